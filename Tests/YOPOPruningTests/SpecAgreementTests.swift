import Foundation
import XCTest
import YOPOPruning

/// One grammar and one validation per method, whoever reads the spec (`generate`'s pruner and plan,
/// `flops`' conventions and exact count, `compare`'s budget solver).
final class SpecAgreementTests: XCTestCase {
    let b7 = try! FLOPsModel(.llava15_7B)
    let layout = PromptLayout(systemTokens: 35, grid: .square(24), textTokens: 83)

    /// Every field of every method, given twice, is refused by the one reader with the same message,
    /// through `PruningSpec(parsing:)` and `BaselineSpec.parse`.
    func testDuplicateFieldsRejectedForEveryMethod() throws {
        let fields: [(method: String, field: String, first: String, second: String)] = [
            ("yopo", "window", "3", "5"), ("yopo", "layers", "1", "2"), ("yopo", "heads", "a.npy", "b.npy"),
            ("yopo", "heads-keep", "16", "8"), ("yopo", "ffn", "2", "4"),
            ("fastv", "k", "1", "2"), ("fastv", "r", "0.5", "0.25"), ("fastv", "keep", "10", "20"),
            ("pdrop", "layers", "8/16", "2/4"), ("pdrop", "ratio", "0.5", "0.25"), ("pdrop", "keep", "10/5", "20/5"),
            ("sparsevlm", "tokens", "192", "64"), ("sparsevlm", "layers", "2/6", "1/2"), ("sparsevlm", "keep", "10/5", "3/2"),
        ]
        XCTAssertEqual(Set(fields.map(\.method)), Set(PruningSpec.methods))
        for (method, field, first, second) in fields {
            let expected = PruningSpecError.invalidField(
                field: field, reason: "given twice (\(field)=\(first) and \(field)=\(second)); give each field once")
            // Repeated next to each other, and with another field in between.
            let other = [
                "yopo": field == "window" ? "ffn=2" : "window=3", "fastv": field == "k" ? "keep=1" : "k=1",
                "pdrop": field == "layers" ? "ratio=0.5" : "layers=1/2", "sparsevlm": field == "tokens" ? "layers=1/2" : "tokens=192",
            ][method]!
            for text in ["\(method):\(field)=\(first),\(field)=\(second)", "\(method):\(field)=\(first),\(other),\(field)=\(second)"] {
                XCTAssertThrowsError(try PruningSpec(parsing: text), text) {
                    XCTAssertEqual($0 as? PruningSpecError, expected, text)
                }
                if method != "yopo" {
                    XCTAssertThrowsError(try BaselineSpec.parse(text), text) { XCTAssertEqual($0 as? PruningSpecError, expected, text) }
                }
            }
        }
    }

    /// `fastv:k=0` (and k = L) fail with the same `PruningSpecError` whether the pruner is built
    /// (`generate`), the spec is counted under any convention or under `full` (`flops`), or the budget
    /// solver prices it (`compare`).
    func testFastVBoundsAgreeAcrossGenerateFlopsAndCompare() throws {
        let solver = try BudgetSolver(dimensions: .llava15_7B, layout: layout)
        for (text, message) in [
            ("fastv:k=0", "0 is outside [1, 31] for a 32-layer model (k=0, dropping before the first layer, is not implemented)"),
            ("fastv:k=32,r=0.75", "32 is outside [1, 31] for a 32-layer model"),
        ] {
            let expected = PruningSpecError.invalidField(field: "k", reason: message)
            let spec = try PruningSpec(parsing: text)
            guard case .baseline(let baseline) = spec else { return XCTFail(text) }
            var paths: [(String, () throws -> Void)] = [
                ("generate (pruner)", { _ = try spec.makePruner(for: .llava15_7B) }),
                ("validate", { try baseline.validate(layers: 32) }),
                ("flops full", { _ = try self.b7.full(self.layout, baseline: baseline) }),
                ("compare (solver)", { _ = try solver.cost(spec) }),
            ]
            for convention in FLOPsConvention.allCases where convention != .full {
                paths.append(("flops \(convention.rawValue)", { _ = try self.b7.count(convention, spec: spec, layout: self.layout) }))
            }
            for (path, run) in paths {
                XCTAssertThrowsError(try run(), "\(text) via \(path)") {
                    XCTAssertEqual($0 as? PruningSpecError, expected, "\(text) via \(path)")
                    XCTAssertEqual("\($0)", "invalid prune spec field k: \(message)", "\(text) via \(path)")
                }
            }
        }
        // What the pruner accepts, every count accepts: k = 1 and k = L − 1.
        for k in [1, 31] {
            let spec = try PruningSpec(parsing: "fastv:k=\(k)")
            XCTAssertNotNil(try spec.makePruner(for: .llava15_7B))
            _ = try b7.count(.fastv, spec: spec, layout: layout)
            guard case .baseline(let b) = spec else { return XCTFail() }
            _ = try b7.full(layout, baseline: b)
        }
    }

    /// PyramidDrop and SparseVLM: the layers the pruner refuses are refused by the counts too.
    func testBaselineLayerBoundsAgree() throws {
        for (text, expected) in [
            ("pdrop:layers=8/16/32", PruningSpecError.invalidField(
                field: "layers", reason: "8/16/32 must increase within [1, 31] for a 32-layer model (a boundary needs a later layer to rank with)")),
            ("sparsevlm:layers=2/31,keep=100/50", PruningSpecError.invalidField(
                field: "layers", reason: "2/31 must increase within [0, 30] for a 32-layer model (a pruning layer needs a later layer)")),
        ] {
            let spec = try PruningSpec(parsing: text)
            guard case .baseline(let baseline) = spec else { return XCTFail(text) }
            XCTAssertThrowsError(try spec.makePruner(for: .llava15_7B)) { XCTAssertEqual($0 as? PruningSpecError, expected, text) }
            XCTAssertThrowsError(try b7.count(.pdrop, spec: spec, layout: layout)) { XCTAssertEqual($0 as? PruningSpecError, expected, text) }
            XCTAssertThrowsError(try b7.full(layout, baseline: baseline)) { XCTAssertEqual($0 as? PruningSpecError, expected, text) }
        }
    }

    /// The v1.5 schedules are one table: `tokens=N` builds them, the pruner's spec names them back,
    /// the budget solver offers them.
    func testSparseVLMScheduleIsOneTable() throws {
        XCTAssertEqual(SparseVLMSettings.v15Layers, [2, 6, 15])
        XCTAssertEqual(SparseVLMSettings.v15Schedules.map(\.tokens), [192, 128, 64])
        for (tokens, keep) in SparseVLMSettings.v15Schedules {
            let settings = try SparseVLMSettings(tokens: tokens)
            XCTAssertEqual(settings, SparseVLMSettings(layers: [2, 6, 15], keep: keep))
            XCTAssertEqual(settings.v15Tokens, tokens)
            XCTAssertEqual(try SparseVLM(settings: settings, layers: 32).spec, "sparsevlm:tokens=\(tokens)")
        }
        XCTAssertNil(SparseVLMSettings(layers: [2, 6, 15], keep: [300, 200, 111]).v15Tokens)
        let solution = try BudgetSolver(dimensions: .llava15_7B, layout: layout, convention: .sparsevlm).solve(FLOPsBudget(fraction: 1))
        XCTAssertEqual(solution.choice(.sparsevlm)?.spec, .baseline(.sparseVLM(try SparseVLMSettings(tokens: 192))))
    }
}
