import Foundation
import XCTest

/// The bad-input sweep (issue 11): odd or hostile inputs across every area a user reaches, each run
/// as a separate `yopo` process under an 8 GiB address-space limit (`ulimit -v`), so an unbounded
/// allocation fails its case instead of the machine. Every case must end with exit status 1 (not a
/// signal, not a timeout), print nothing on stdout and exactly one stderr line `error: …` containing
/// the case's expected text.
///
/// Cases live in tables, one file per area (`Sweep*Cases.swift`); `SweepTests` runs them.
enum SweepArea: String, CaseIterable, Sendable {
    case images, checkpoints, pruneSpecs = "prune-specs", cliValues = "cli-values", subcommands, context
}

/// One bad input. `arguments` builds the command line once the scratch directory exists, so a case
/// can write the hostile file it needs (see `SweepScratch`).
struct SweepCase: Sendable {
    var area: SweepArea
    /// Unique within the area; names the case in failures.
    var name: String
    /// Text the one stderr line must contain.
    var message: String
    /// Bytes fed on stdin (none: /dev/null).
    var stdin: Data? = nil
    var arguments: @Sendable (SweepScratch) throws -> [String]

    init(
        _ area: SweepArea, _ name: String, message: String, stdin: Data? = nil,
        arguments: @escaping @Sendable (SweepScratch) throws -> [String]
    ) {
        self.area = area
        self.name = name
        self.message = message
        self.stdin = stdin
        self.arguments = arguments
    }

    /// A case whose command line needs no file of its own.
    init(_ area: SweepArea, _ name: String, message: String, stdin: Data? = nil, _ arguments: [String]) {
        self.init(area, name, message: message, stdin: stdin) { _ in arguments }
    }
}

/// A private directory for one case, with helpers to make hostile files.
struct SweepScratch: Sendable {
    let directory: URL

    /// `directory/name`.
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Writes `data` to `directory/name` and returns its path.
    @discardableResult
    func write(_ name: String, _ data: Data) throws -> String {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        return url.path
    }

    /// A checkpoint directory `name` whose files link to fixture `model`'s, except those in `skip`.
    func linkedCopy(of model: String, skip: Set<String> = [], name: String = "model") throws -> String {
        let source = URL(fileURLWithPath: Paths.model(model))
        let target = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where !skip.contains(file) {
            try FileManager.default.createSymbolicLink(
                at: target.appendingPathComponent(file), withDestinationURL: source.appendingPathComponent(file))
        }
        return target.path
    }

    /// A linked copy of `model` whose `config.json` is `edit` applied to the fixture's.
    func editedConfig(of model: String, name: String = "model", _ edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = try linkedCopy(of: model, skip: ["config.json"], name: name)
        try writeConfig(of: model, into: dir, edit)
        return dir
    }

    /// Writes `dir/config.json` as fixture `model`'s with `edit` applied (replacing any file there).
    func writeConfig(of model: String, into dir: String, _ edit: (inout [String: Any]) -> Void) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.model(model)).appendingPathComponent("config.json"))
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&json)
        let path = URL(fileURLWithPath: dir).appendingPathComponent("config.json")
        try? FileManager.default.removeItem(at: path)
        try JSONSerialization.data(withJSONObject: json).write(to: path)
    }

    /// A linked copy of `model` with `file` replaced by `contents`.
    func replaced(_ file: String, in model: String, with contents: Data, name: String = "model") throws -> String {
        let dir = try linkedCopy(of: model, skip: [file], name: name)
        try contents.write(to: URL(fileURLWithPath: dir).appendingPathComponent(file))
        return dir
    }
}

/// `generate` on `model` (default: the bundled llava-hf-tiny) with the bundled photo, 2 tokens.
func sweepGenerate(
    model: String = Paths.model("llava-hf-tiny"), image: String = Paths.image("chelsea.png"),
    prompt: String = "What is shown?", _ extra: [String] = []
) -> [String] {
    ["generate", "--model", model, "--image", image, "--prompt", prompt, "--max-tokens", "2"] + extra
}

/// Runs the sweep.
final class SweepTests: XCTestCase {
    /// 8 GiB of address space, in the KiB `ulimit -v` takes.
    static let addressSpaceLimitKiB = 8 * 1024 * 1024
    /// A case slower than this is a hang.
    static let timeout: TimeInterval = 90

    static var allCases: [SweepCase] {
        sweepImageCases + sweepCheckpointCases + sweepPruneSpecCases + sweepCLIValueCases
            + sweepSubcommandCases + sweepContextCases
    }

    /// The issue asks for at least 150 cases across all six areas, names unique per area.
    func testSweepCoversEveryArea() {
        let cases = Self.allCases
        let counts = SweepArea.allCases.map { area in "\(area.rawValue) \(cases.filter { $0.area == area }.count)" }
        print("bad-input sweep: \(cases.count) cases (\(counts.joined(separator: ", ")))")
        XCTAssertGreaterThanOrEqual(cases.count, 150)
        for area in SweepArea.allCases {
            let names = cases.filter { $0.area == area }.map(\.name)
            XCTAssertFalse(names.isEmpty, "no sweep case for \(area.rawValue)")
            XCTAssertEqual(Set(names).count, names.count, "duplicate case names in \(area.rawValue)")
        }
    }

    func testImages() throws { try run(.images) }
    func testCheckpoints() throws { try run(.checkpoints) }
    func testPruneSpecs() throws { try run(.pruneSpecs) }
    func testCLIValues() throws { try run(.cliValues) }
    func testSubcommands() throws { try run(.subcommands) }
    func testContext() throws { try run(.context) }

    /// Runs the area's cases two at a time (the machines have two cores) and reports each failure by name.
    func run(_ area: SweepArea) throws {
        let cases = Self.allCases.filter { $0.area == area }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-sweep-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var failures: [String] = []
            func add(_ s: String) { lock.lock(); failures.append(s); lock.unlock() }
        }
        let results = Results()
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 2
        for (index, sweepCase) in cases.enumerated() {
            queue.addOperation {
                let label = "\(area.rawValue)/\(sweepCase.name)"
                do {
                    let dir = root.appendingPathComponent("\(index)")
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    let arguments = try sweepCase.arguments(SweepScratch(directory: dir))
                    if let problem = try Self.check(arguments, stdin: sweepCase.stdin, message: sweepCase.message) {
                        results.add("\(label): \(problem)")
                    }
                } catch {
                    results.add("\(label): could not set up: \(error)")
                }
            }
        }
        queue.waitUntilAllOperationsAreFinished()
        for failure in results.failures.sorted() { XCTFail(failure) }
    }

    /// Runs `yopo arguments` under the address-space limit; nil when it failed as a bad input must.
    static func check(_ arguments: [String], stdin: Data?, message: String) throws -> String? {
        let run = try runYOPO(
            arguments, stdin: stdin, addressSpaceLimitKiB: addressSpaceLimitKiB, timeout: timeout,
            failOnTimeout: false)
        let stdout = run.stdout, stderr = run.stderr
        if run.timedOut { return "did not finish within \(Int(timeout)) s" }
        if let signal = run.signal { return "killed by signal \(signal); stderr: \(stderr.prefix(400))" }
        if run.status != 1 { return "exit status \(run.status), expected 1; stderr: \(stderr.prefix(400))" }
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: true)
        if lines.count != 1 { return "expected one stderr line, got \(lines.count): \(stderr.prefix(600))" }
        if !stderr.hasPrefix("error: ") { return "stderr does not start with 'error: ': \(stderr)" }
        if !stderr.contains(message) { return "stderr \(stderr.debugDescription) does not contain \(message.debugDescription)" }
        if !stdout.isEmpty { return "stdout not empty: \(stdout.prefix(200))" }
        return nil
    }
}
