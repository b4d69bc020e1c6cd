import Foundation
import XCTest
import YOPOFormats

@testable import YOPOPruning

/// The calibration rules against an independent NumPy implementation of the official rule
/// (Tools/reference/make_calibration_fixture.py) on a committed dump of attention masses.
final class HeadCalibrationTests: XCTestCase {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/calibration")

    func samples() throws -> [[[VisualAttentionMass]]] {
        let a = try NPYArray(path: dir.appendingPathComponent("masses.npy").path)
        XCTAssertEqual(a.shape, [100, 4, 6, 3])
        let (s, l, h) = (a.shape[0], a.shape[1], a.shape[2])
        return (0..<s).map { i in
            (0..<l).map { j in
                (0..<h).map { k in
                    let o = ((i * l + j) * h + k) * 3
                    return VisualAttentionMass(visual: a.values[o], text: a.values[o + 1], system: a.values[o + 2])
                }
            }
        }
    }

    func golden(_ name: String) throws -> [[Bool]] {
        let a = try NPYArray(path: dir.appendingPathComponent(name).path)
        return (0..<a.shape[0]).map { l in Array(a.bools[(l * a.shape[1])..<((l + 1) * a.shape[1])]) }
    }

    func testOfficialLLaVARuleEqualsTheReference() throws {
        let all = try samples()
        let rule = HeadMaskRule.llavaVote(alpha: 0.1, votes: 40, alwaysKeptLayers: 2)
        let mask = try HeadCalibration.mask(all, rule: rule)
        XCTAssertEqual(mask, try golden("mask_llava_alpha0.1_votes40.npy"))
        XCTAssertEqual(mask.map { $0.filter { $0 }.count }, [6, 6, 4, 4])
        // 30 samples: not more than 40 votes anywhere, so even layers 0 and 1 go (the official quirk).
        let few = try HeadCalibration.mask(Array(all.prefix(30)), rule: rule)
        XCTAssertEqual(few, try golden("mask_llava_alpha0.1_votes40_30samples.npy"))
        XCTAssertEqual(few.flatMap { $0 }.filter { $0 }.count, 0)
    }

    func testKeepFractionEqualsTheReference() throws {
        let mask = try HeadCalibration.mask(try samples(), rule: .keepFraction(0.5))
        XCTAssertEqual(mask, try golden("mask_keep0.5.npy"))
        XCTAssertEqual(mask.flatMap { $0 }.filter { $0 }.count, 12)
    }

    func testRatioEdgeCases() {
        XCTAssertTrue(VisualAttentionMass(visual: 0, text: 0, system: 0).ratio.isNaN)
        XCTAssertEqual(VisualAttentionMass(visual: 1, text: 0, system: 0).ratio, .infinity)
        XCTAssertEqual(VisualAttentionMass(visual: 1, text: 3, system: 1).ratio, 0.25)
        // NaN is never active, not even in an always-kept layer (NaN >= 0 is false).
        let nan = [[[VisualAttentionMass(visual: 0, text: 0, system: 0)]]]
        XCTAssertEqual(try HeadCalibration.mask(nan, rule: .llavaVote(alpha: 0, votes: 0, alwaysKeptLayers: 1)), [[false]])
    }

    func testWrittenMaskReadsBackAsAnOfficialMask() throws {
        let mask = try golden("mask_llava_alpha0.1_votes40.npy")
        let data = HeadCalibration.npyData(mask)
        XCTAssertEqual(
            data, try Data(contentsOf: dir.appendingPathComponent("mask_llava_alpha0.1_votes40.npy")), "numpy writes the same bytes")
        let back = try NPYArray(data: data)
        XCTAssertEqual(back.shape, [4, 6])
        XCTAssertEqual(back.descr, "|b1")
        XCTAssertEqual(back.bools, mask.flatMap { $0 })
    }

    func testBadInput() {
        func message(_ samples: [[[VisualAttentionMass]]], _ rule: HeadMaskRule) -> String {
            do {
                _ = try HeadCalibration.mask(samples, rule: rule)
                return "no error"
            } catch { return "\(error)" }
        }
        let one = VisualAttentionMass(visual: 1, text: 1, system: 1)
        XCTAssertEqual(message([], .keepFraction(0.5)), "calibration needs at least one sample with at least one layer and head")
        XCTAssertEqual(message([[[one, one]], [[one]]], .keepFraction(0.5)), "sample 2 is not 1 layers × 2 heads like the first")
        XCTAssertEqual(message([[[one]]], .keepFraction(1.5)), "keep fraction must be in [0, 1]")
        XCTAssertEqual(
            message([[[one]]], .llavaVote(alpha: .nan, votes: 1, alwaysKeptLayers: 2)),
            "llava rule: alpha must be finite, votes and always-kept layers at least 0")
    }
}
