import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer schedules list|show|save|pause|resume|delete`
struct Schedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "See and change recurring schedules.",
        subcommands: [ListSchedules.self, ShowSchedule.self, SaveSchedule.self, PauseSchedule.self, ResumeSchedule.self,
                      DeleteSchedule.self],
        defaultSubcommand: ListSchedules.self)

    static func time(_ date: Date?) -> String {
        date.map { ISO8601DateFormatter().string(from: $0) } ?? "-"
    }

    static func printState(_ state: ScheduleState, json: Bool) {
        if json {
            Console.json(state.jsonValue)
            return
        }
        let s = state.schedule
        Console.table(["field", "value"], [
            ["name", s.name], ["recurrence", "\(s.recurrence)"], ["time zone", s.timeZone.identifier],
            ["sequence", s.sequence + (s.version.map { " v\($0)" } ?? " (latest)")], ["subject", s.subject],
            ["enabled", "\(s.enabled)"], ["exclusive", "\(s.exclusive)"], ["missed fires", "\(s.missedFires)"],
            ["next fire", time(state.nextFireAt)], ["last fired", time(state.lastFiredAt)],
            ["fired", "\(state.fired)"], ["skipped", "\(state.skipped)"],
            ["last skip", state.lastSkip.map { "\(time($0.occurrence)): \(Console.oneLine($0.reason))" } ?? "-"],
            ["last run", state.lastEnrollmentID?.uuidString.lowercased() ?? "-"],
        ])
    }
}

struct ListSchedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every schedule, by name.")
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await withStore(options) { _, sequencer in
            let states = try await sequencer.schedules()
            if options.json {
                Console.json(.array(states.map(\.jsonValue)))
                return
            }
            Console.table(["name", "recurrence", "zone", "sequence", "enabled", "next fire", "fired", "skipped"], states.map {
                [$0.schedule.name, "\($0.schedule.recurrence)", $0.schedule.timeZone.identifier, $0.schedule.sequence,
                 "\($0.schedule.enabled)", Schedules.time($0.nextFireAt), "\($0.fired)", "\($0.skipped)"]
            }, empty: "(no schedules)")
        }
    }
}

struct ShowSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One schedule and where it stands.")
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The schedule's name.") var name: String

    func run() async throws {
        try await withStore(options) { _, sequencer in
            Schedules.printState(try await sequencer.schedule(named: name), json: options.json)
        }
    }
}

struct SaveSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Create or replace a schedule from a JSON file (- for standard input).",
        discussion: """
            {"name": "weekly-report", "recurrence": "0 9 * * 1", "timeZone": "Europe/Paris", "sequence": "report",
             "subject": "report-{{date}}", "exclusive": true}
            """)
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "A JSON file holding one schedule.") var file: String

    func run() async throws {
        try await withStore(options) { _, sequencer in
            let data: Data
            do {
                data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw CommandFailure.badInput("cannot read \(file): \(error.localizedDescription)")
            }
            let schedule = try Schedule(json: try JSONValue(jsonData: data))
            Schedules.printState(try await sequencer.schedule(schedule), json: options.json)
        }
    }
}

struct PauseSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Stop a schedule firing.")
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The schedule's name.") var name: String

    func run() async throws {
        try await withStore(options) { _, sequencer in
            Schedules.printState(try await sequencer.pauseSchedule(name), json: options.json)
        }
    }
}

struct ResumeSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Fire a paused schedule again, from its next occurrence.")
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The schedule's name.") var name: String

    func run() async throws {
        try await withStore(options) { _, sequencer in
            Schedules.printState(try await sequencer.resumeSchedule(name), json: options.json)
        }
    }
}

struct DeleteSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a schedule; the enrollments it created go on.")
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The schedule's name.") var name: String

    func run() async throws {
        try await withStore(options) { _, sequencer in
            guard try await sequencer.deleteSchedule(name) else {
                throw CommandFailure.notFound("no schedule named '\(name)'\n  see the schedules with `sequencer schedules list`")
            }
            if options.json { Console.json(["deleted": .string(name)]) } else { Console.print("deleted schedule \(name)") }
        }
    }
}
