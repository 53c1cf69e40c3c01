// The `sequencer` executable: every command lives in the SequencerCommandLine library.
import ArgumentParser
import SequencerCommandLine

@main
enum SequencerMain {
    static func main() async {
        await SequencerCommand.main()
    }
}
