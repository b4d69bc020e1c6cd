import Foundation
import XCTest

/// Issue 12's structure, held by the tree itself: the engine imports neither the families nor the
/// pruning methods, families and methods do not import each other, and no source file grows past
/// 800 lines (a file past it holds more than one concept).
final class StructureTests: XCTestCase {
    let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// Target name → (file name, contents) of its Swift files.
    func swiftFiles() throws -> [String: [(String, String)]] {
        var files: [String: [(String, String)]] = [:]
        let targets = try FileManager.default.contentsOfDirectory(atPath: sources.path)
        for target in targets {
            let dir = sources.appendingPathComponent(target)
            guard let walker = FileManager.default.enumerator(atPath: dir.path) else { continue }
            for case let name as String in walker where name.hasSuffix(".swift") {
                files[target, default: []].append((name, try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)))
            }
        }
        return files
    }

    func imports(_ text: String) -> Set<String> {
        Set(
            text.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let i = words.firstIndex(of: "import"), i <= 1 else { return nil }
                return i + 1 < words.count ? String(words[i + 1]) : nil
            })
    }

    func testDependenciesPointOneWay() throws {
        let files = try swiftFiles()
        XCTAssertGreaterThan(files["YOPOEngine"]?.count ?? 0, 5)
        for (target, forbidden) in [
            ("YOPOEngine", ["YOPOModels", "YOPOPruning", "YOPOFormats", "YOPO"]),
            ("YOPOModels", ["YOPOPruning", "YOPO"]), ("YOPOPruning", ["YOPOModels", "YOPO"]),
            // Benchmark files and metrics know no model.
            ("YOPOEval", ["YOPOCore", "YOPOEngine", "YOPOModels", "YOPOPruning", "YOPO"])
        ] {
            for (name, text) in files[target] ?? [] {
                let bad = imports(text).intersection(forbidden)
                XCTAssertTrue(bad.isEmpty, "\(target)/\(name) imports \(bad.sorted())")
            }
        }
    }

    func testNoSourceFileOver800Lines() throws {
        let files = try swiftFiles()
        XCTAssertGreaterThan(files.values.reduce(0) { $0 + $1.count }, 50)
        for (target, list) in files {
            for (name, text) in list {
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
                XCTAssertLessThanOrEqual(lines, 800, "\(target)/\(name) has \(lines) lines")
            }
        }
    }
}
