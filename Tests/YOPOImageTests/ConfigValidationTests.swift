import Foundation
import XCTest
@testable import YOPOImage

/// Issue 11: every `preprocessor_config.json` value is type-checked and bounded, with a one-line
/// message naming the key, the value found and what is allowed.
final class ConfigValidationTests: XCTestCase {
    func testConfigValuesAreValidatedWithTheirKey() {
        let allowedSizes = "allowed: whole numbers from 1 to 8192"
        let cases: [(String, String)] = [
            (#"{"size": {"shortest_edge": 100000}}"#, "size.shortest_edge is 100000; \(allowedSizes)"),
            (#"{"size": {"shortest_edge": 0}}"#, "size.shortest_edge is 0; \(allowedSizes)"),
            (#"{"size": {"shortest_edge": -336}}"#, "size.shortest_edge is -336; \(allowedSizes)"),
            (#"{"size": {"shortest_edge": 336.5}}"#, "size.shortest_edge is 336.5; \(allowedSizes)"),
            (#"{"size": {"shortest_edge": "336"}}"#, "size.shortest_edge is the string \"336\"; \(allowedSizes)"),
            (#"{"size": 1e300}"#, "size is 1e+300; \(allowedSizes)"),
            (#"{"size": "big"}"#, #"size is the string "big"; allowed: a whole number, {"shortest_edge": n} or {"height": h, "width": w}"#),
            (
                #"{"size": [336, 336]}"#,
                #"size is a list of 2 entries; allowed: a whole number, {"shortest_edge": n} or {"height": h, "width": w}"#
            ),
            (#"{"size": true}"#, #"size is true; allowed: a whole number, {"shortest_edge": n} or {"height": h, "width": w}"#),
            (
                #"{"size": {}}"#,
                #"size has neither shortest_edge nor height and width; allowed: a whole number, {"shortest_edge": n} or {"height": h, "width": w}"#
            ),
            (
                #"{"size": {"height": 336}}"#,
                #"size has height but no width; allowed: a whole number, {"shortest_edge": n} or {"height": h, "width": w}"#
            ),
            (#"{"size": {"height": 336, "width": 0}}"#, "size.width is 0; \(allowedSizes)"),
            (#"{"crop_size": 100000}"#, "crop_size is 100000; \(allowedSizes)"),
            (#"{"crop_size": {"height": -1, "width": 336}}"#, "crop_size.height is -1; \(allowedSizes)"),
            (
                #"{"crop_size": {"width": 336}}"#,
                #"crop_size has width but no height; allowed: a whole number or {"height": h, "width": w}"#
            ),
            (
                #"{"crop_size": {"shortest_edge": 336}}"#,
                #"crop_size has no height and width; allowed: a whole number or {"height": h, "width": w}"#
            ),
            (#"{"image_mean": [0.5, 0.5, 0.5, 0.5]}"#, "image_mean has 4 entries; allowed: a number or a list of 3 numbers (R, G, B)"),
            (#"{"image_mean": "imagenet"}"#, #"image_mean is the string "imagenet"; allowed: a number or a list of 3 numbers (R, G, B)"#),
            (
                #"{"image_mean": [0.5, "x", 0.5]}"#,
                "image_mean has an entry that is not a number; allowed: a number or a list of 3 numbers (R, G, B)"
            ),
            (#"{"image_mean": [0.5, 1e300, 0.5]}"#, "image_mean entry 2 is 1e+300; allowed: numbers from 0 to 255"),
            (#"{"image_std": [0.2, 0, 0.2]}"#, "image_std entry 2 is 0; allowed: numbers greater than 0 and at most 255"),
            (#"{"image_std": -0.5}"#, "image_std entry 1 is -0.5; allowed: numbers greater than 0 and at most 255"),
            (#"{"resample": 7}"#, "resample is 7; allowed: 1 (LANCZOS), 2 (BILINEAR), 3 (BICUBIC), 4 (BOX), 5 (HAMMING)"),
            (
                #"{"resample": "bicubic"}"#,
                #"resample is the string "bicubic"; allowed: 1 (LANCZOS), 2 (BILINEAR), 3 (BICUBIC), 4 (BOX), 5 (HAMMING)"#
            ),
            (#"{"resample": 2.5}"#, "resample is 2.5; allowed: 1 (LANCZOS), 2 (BILINEAR), 3 (BICUBIC), 4 (BOX), 5 (HAMMING)"),
            (#"{"do_resize": "yes"}"#, #"do_resize is the string "yes"; allowed: true or false"#),
            (#"{"do_center_crop": 1}"#, "do_center_crop is 1; allowed: true or false"),
            (#"{"do_normalize": {}}"#, "do_normalize is an object; allowed: true or false"),
            (
                #"{"rescale_factor": "1/255"}"#,
                #"rescale_factor is the string "1/255"; allowed: a number greater than 0 and at most 1 (e.g. 1/255 = 0.00392156862745098)"#
            ),
            (
                #"{"rescale_factor": 0}"#,
                "rescale_factor is 0; allowed: a number greater than 0 and at most 1 (e.g. 1/255 = 0.00392156862745098)"
            )
        ]
        for (json, message) in cases {
            XCTAssertThrowsError(try JSONDecoder().decode(ImagePreprocessorConfig.self, from: Data(json.utf8)), json) { error in
                XCTAssertEqual((error as? ImageError)?.description, "image processor setting " + message, json)
            }
        }
        XCTAssertThrowsError(try JSONDecoder().decode(ImagePreprocessorConfig.self, from: Data("[1, 2]".utf8))) { error in
            XCTAssertEqual((error as? ImageError)?.description, "image processor config is a list; allowed: a JSON object")
        }
        // null means "use the default", as transformers' None does.
        let nulls = try? JSONDecoder().decode(
            ImagePreprocessorConfig.self,
            from: Data(#"{"size": null, "do_resize": null, "image_std": null}"#.utf8))
        XCTAssertEqual(nulls, ImagePreprocessorConfig())
    }

    /// Configs built in code go through the same checks.
    func testPreprocessorRefusesConfigsBuiltInCode() {
        assertImageError("image processor setting size.shortest_edge is 100000; allowed: whole numbers from 1 to 8192") {
            () throws(ImageError) in try ImagePreprocessor(config: .init(size: .shortestEdge(100_000)))
        }
        assertImageError("image processor setting crop_size.width is 0; allowed: whole numbers from 1 to 8192") {
            () throws(ImageError) in try ImagePreprocessor(config: .init(cropHeight: 336, cropWidth: 0))
        }
        assertImageError("image processor setting image_std entry 3 is 0; allowed: numbers greater than 0 and at most 255") {
            () throws(ImageError) in try ImagePreprocessor(config: .init(imageStd: [1, 1, 0]))
        }
        assertImageError("image processor setting image_mean has 2 entries; allowed: a list of 3 numbers (R, G, B)") {
            () throws(ImageError) in try ImagePreprocessor(config: .init(imageMean: [0.5, 0.5]))
        }
    }

    func testFixedOutputSize() {
        XCTAssertTrue(ImagePreprocessorConfig.clipViTLarge336.fixedOutputSize! == (336, 336))
        XCTAssertTrue(ImagePreprocessorConfig(size: .exact(height: 30, width: 40), doCenterCrop: false).fixedOutputSize! == (40, 30))
        XCTAssertNil(ImagePreprocessorConfig(size: .shortestEdge(336), doCenterCrop: false).fixedOutputSize)
        XCTAssertNil(ImagePreprocessorConfig(size: .exact(height: 30, width: 40), doResize: false, doCenterCrop: false).fixedOutputSize)
    }
}
