public import Foundation

extension Sequencer {
    /// Enrolls a subject in the latest (or a given) version of a sequence, due at once.
    ///
    /// With an idempotency key, enrolling again with the same key in the same sequence
    /// returns the first enrollment's id and changes nothing.
    ///
    /// - Parameters:
    ///   - subject: the host's id for the person or thing.
    ///   - sequence: the sequence name.
    ///   - version: a registered version; `nil` for the latest.
    ///   - context: a JSON object that templates and conditions read.
    ///   - idempotencyKey: makes the call safe to repeat.
    ///   - now: the enrollment time (and its first due time).
    ///   - transaction: writes inside the host's own transaction instead of the store's
    ///     (``EnrollmentWriter``; `PostgresStore.transaction(on:)`), so a rollback leaves no enrollment.
    @discardableResult
    public func enroll(
        _ subject: String, in sequence: String, version: Int? = nil, context: JSONValue = [:],
        idempotencyKey: String? = nil, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil
    ) async throws -> UUID {
        try await enroll([EnrollmentRequest(subject: subject, context: context, idempotencyKey: idempotencyKey)],
                         in: sequence, version: version, now: now, within: transaction)[0]
    }

    /// Enrolls many subjects in one call; idempotent per key.
    ///
    /// Every request is checked before any is stored. The store writes them in batches
    /// (`PostgresStore`: `enrollBatchSize`, each batch atomic; repeating the call with the same
    /// keys finishes a call that failed part-way).
    ///
    /// - Parameter transaction: writes inside the host's own transaction (see
    ///   ``enroll(_:in:version:context:idempotencyKey:now:within:)``).
    /// - Returns: the enrollment ids, in request order.
    @discardableResult
    public func enroll(
        _ requests: [EnrollmentRequest], in sequence: String, version: Int? = nil, now: Date = Date(),
        within transaction: (any EnrollmentWriter)? = nil
    ) async throws -> [UUID] {
        let enrollments = try await newEnrollments(requests, in: sequence, version: version, now: now, via: transaction)
        let results = try await (transaction ?? store).enroll(enrollments)
        // Inside the host's transaction nothing is counted: it may still roll back.
        if transaction == nil {
            observability.count("sequencer_enrollments_created_total", results.filter(\.created).count, [("sequence", sequence)])
        }
        return results.map(\.enrollment.id)
    }

    /// The enrollments an enroll call asks for, from the sequence's definition; every request is
    /// checked (``EnrollmentRequest``'s rules) before the caller stores any.
    func newEnrollments(
        _ requests: [EnrollmentRequest], in sequence: String, version: Int?, now: Date,
        via writer: (any EnrollmentWriter)? = nil
    ) async throws -> [Enrollment] {
        try Limits.check(now, field: "now", sequence: sequence)
        let definition = try await definition(sequence, version: version, via: writer)
        return try requests.map { try $0.enrollment(in: definition, now: now, limits: configuration.limits) }
    }

    /// Merges members into an enrollment's context. An active enrollment becomes due at once,
    /// so the next tick re-checks its goals (and re-evaluates its current step).
    ///
    /// - Parameter transaction: writes inside the host's own transaction (see ``EnrollmentWriter``).
    @discardableResult
    public func updateContext(_ id: UUID, merging patch: [String: JSONValue], now: Date = Date(),
                              within transaction: (any EnrollmentWriter)? = nil) async throws -> Enrollment {
        try await (transaction ?? store).change(
            id, .mergeContext(patch, maximumContextBytes: configuration.limits.maximumContextBytes), now: now)
    }

    /// Cancels an enrollment for good. An in-flight tick's outcome for it is discarded.
    ///
    /// - Parameter transaction: writes inside the host's own transaction (see ``EnrollmentWriter``),
    ///   so an unsubscribe and its record commit together.
    @discardableResult
    public func cancel(_ id: UUID, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil) async throws
        -> Enrollment
    {
        try await (transaction ?? store).change(id, .cancel, now: now)
    }

    /// Pauses an active enrollment: ticks skip it until ``resume(_:now:within:)``.
    @discardableResult
    public func pause(_ id: UUID, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil) async throws
        -> Enrollment
    {
        try await (transaction ?? store).change(id, .pause, now: now)
    }

    /// Resumes a paused enrollment, due at once.
    @discardableResult
    public func resume(_ id: UUID, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil) async throws
        -> Enrollment
    {
        try await (transaction ?? store).change(id, .resume, now: now)
    }

    /// Retries a failed enrollment from the step it failed at: active again, due now, attempts
    /// reset, and a `retried` history event that says who (`by`) and what the failure was.
    ///
    /// The retry continues the same visit of the step, so a message the deliveries ledger
    /// recorded as sent in that visit is not sent again. Only a failed enrollment can be retried.
    @discardableResult
    public func retry(_ id: UUID, by actor: String? = nil, now: Date = Date(),
                      within transaction: (any EnrollmentWriter)? = nil) async throws -> Enrollment
    {
        try await (transaction ?? store).change(id, .retry(by: actor), now: now)
    }

    /// Moves an enrollment to another step of its own sequence version: a new visit of that
    /// step, attempts reset, due now (a paused enrollment stays paused; a failed one becomes
    /// active), with a `moved` history event that says from where, to where and who.
    ///
    /// Active, paused and failed enrollments can be moved; a step id the enrollment's version
    /// does not have is an ``SequencerError/Code/unknownStepReference`` error naming it, and
    /// nothing changes. An in-flight tick's outcome for the enrollment is fenced out.
    @discardableResult
    public func move(_ id: UUID, to step: String, by actor: String? = nil, now: Date = Date(),
                     within transaction: (any EnrollmentWriter)? = nil) async throws -> Enrollment
    {
        let current = try await enrollment(id)
        let definition = try await definition(current.sequenceName, version: current.sequenceVersion, via: transaction)
        return try await (transaction ?? store).change(id, .move(to: step, in: definition, by: actor), now: now)
    }
}
