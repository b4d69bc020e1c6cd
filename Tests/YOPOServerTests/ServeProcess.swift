import Foundation
import TestSupport
import XCTest

/// `yopo serve` as a child process — the executable built next to the test bundle — for what only
/// a real process shows: its exit status, its signal handling, a real client against it.
final class ServeProcess {
    static var executable: URL { BuiltExecutable.yopo }

    let process = Process()
    let port: Int
    /// stderr through the "listening on" line.
    let log: String

    /// Starts `yopo serve --port 0 ARGUMENTS` and waits (60 s at most) for its "listening on http://HOST:PORT" line.
    init(_ arguments: [String]) throws {
        process.executableURL = Self.executable
        process.arguments = ["serve", "--port", "0"] + arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("\n"), Date() < deadline {
            text += String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        }
        log = text
        guard let port = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.terminate()
            throw ServeProcessError(message: "no 'listening on' line: \(text)")
        }
        self.port = port
    }

    /// Waits up to `seconds` for the process to exit; false when it is still running.
    func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return !process.isRunning
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

struct ServeProcessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
