// swift run SignupService: see Examples/SignupService/App/SignupApp.swift.
import Foundation
import Hummingbird
import Logging
import SequencerPostgres
import SequencerPostgresTesting
import SignupServiceApp

var logger = Logger(label: "signup-service")
logger.logLevel = .info
let environment = ProcessInfo.processInfo.environment

// Without DATABASE_URL, a throwaway cluster from the local PostgreSQL binaries (removed at exit).
var cluster: ThrowawayPostgres?
let url: String
if let given = environment["DATABASE_URL"], !given.isEmpty {
    url = given
} else {
    let started = try await ThrowawayPostgres.start()
    cluster = started
    url = started.url
    logger.info("started a throwaway PostgreSQL", metadata: ["url": "\(url)"])
}
var configuration = SignupAppConfiguration(postgres: try DatabaseURL(url).clientConfiguration())
configuration.smtpURL = environment["SMTP_URL"]
configuration.port = environment["PORT"].flatMap(Int.init) ?? 8080
configuration.dashboardPassword = environment["DASHBOARD_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
let app = try buildApplication(configuration, logger: logger)
try await app.runService()
try await cluster?.stop()
