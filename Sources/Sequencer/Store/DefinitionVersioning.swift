/// The rule every store applies when saving a definition, so all stores agree.
public enum DefinitionVersioning {
    /// Decides whether `new` may be stored.
    ///
    /// - Parameters:
    ///   - existing: the stored definition with the same name and version, if any.
    ///   - latestVersion: the greatest stored version of the sequence, if any.
    /// - Returns: `true` to store it, `false` when an equal definition is already stored.
    /// - Throws: ``SequencerError/Code/versionConflict``.
    public static func check(_ new: SequenceDefinition, existing: SequenceDefinition?, latestVersion: Int?) throws -> Bool {
        if let existing {
            if existing == new { return false }
            throw SequencerError(
                .versionConflict, "version \(new.version) is already stored with different content; register it as a new version",
                sequence: new.name, version: new.version, field: "version")
        }
        if let latestVersion, latestVersion > new.version {
            throw SequencerError(
                .versionConflict, "version \(new.version) is not greater than the stored version \(latestVersion)",
                sequence: new.name, version: new.version, field: "version")
        }
        return true
    }
}
