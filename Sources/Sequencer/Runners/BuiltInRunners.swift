extension Array where Element == any TaskRunner {
    /// The runners that ship with Sequencer: GoTo, Conditional, Goal, WaitForDate,
    /// WaitForDuration, WaitForDateComparison and WaitForWindow.
    ///
    /// Email and SMS runners need a transport, so the host adds them:
    /// `runners: .builtIn + [EmailRunner(transport: smtp)]`.
    public static var builtIn: [any TaskRunner] {
        [GoToRunner(), ConditionalRunner(), GoalRunner(), WaitForDateRunner(), WaitForDurationRunner(),
         WaitForDateComparisonRunner(), WaitForWindowRunner(), WaitForEventRunner()]
    }
}
