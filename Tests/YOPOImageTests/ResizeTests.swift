import XCTest
@testable import YOPOImage

/// Pillow 13.0.0 `Image.resize` parity (src/libImaging/Resample.c), byte for byte.
final class ResizeTests: XCTestCase {
    func testFuzzSourceMatchesTheGenerator() {
        XCTAssertEqual(fnv1a64(fuzzSource(width: 31, height: 17).pixels), Fixtures.manifest.fuzz_source_31x17_fnv)
    }

    /// 145 (in, out) size pairs in 1…600: 104 seeded random ones, 2×2 → 1×1, 1×1 → 600×1,
    /// 600×600 → 1×1, 224×323 → 336×485, the pass-order boundary, for BICUBIC and the other
    /// convolution filters.
    func testRandomSizesMatchPillow() throws {
        var mismatches: [String] = []
        for c in Fixtures.manifest.fuzz {
            let filter = try XCTUnwrap(filterNamed(c.filter))
            let source = fuzzSource(width: c.in[0], height: c.in[1])
            let out = try source.resized(width: c.out[0], height: c.out[1], filter: filter)
            XCTAssertEqual(out.pixels.count, c.out[0] * c.out[1] * 3)
            if fnv1a64(out.pixels) != c.fnv {
                mismatches.append("\(c.filter) \(c.in[0])x\(c.in[1]) -> \(c.out[0])x\(c.out[1])")
            }
        }
        XCTAssertEqual(Fixtures.manifest.fuzz.count, 145)
        XCTAssertEqual(mismatches, [], "resizes differing from Pillow")
    }

    func testFullOutputsHaveZeroDifferingBytes() throws {
        for c in Fixtures.manifest.fuzz_full {
            let expected = try Fixtures.goldenBytes(try XCTUnwrap(c.file))
            let out = try fuzzSource(width: c.in[0], height: c.in[1]).resized(width: c.out[0], height: c.out[1])
            let diff = byteDifferences(out.pixels, expected)
            XCTAssertEqual(diff.count, 0, "\(c.in) -> \(c.out): \(diff.count) bytes differ, max \(diff.maxAbs)")
        }
    }

    /// 2×2 → 1×1 by hand: scale 2, support 4, all four taps at distance 0.25·… get weight 1/2 after
    /// normalisation (K(0.25) = K(−0.25)), so the result is the rounded mean per channel.
    func testTwoByTwoToOneByOneIsTheRoundedMean() throws {
        let image = try RGBImage(width: 2, height: 2, pixels: [0, 10, 255, 1, 20, 255, 2, 30, 0, 4, 41, 0])
        let out = try image.resized(width: 1, height: 1)
        // Horizontal: (0+1)/2 = 0.5 → 1 (half up), (2+4)/2 = 3; vertical: (1+3)/2 = 2.
        // G: 15, 35.5 → 36; (15+36)/2 = 25.5 → 26. B: 255, 0 → 127.5 → 128.
        XCTAssertEqual(out.pixels, [2, 26, 128])
    }

    func testCoefficientsSumToOneInFixedPoint() {
        for (inSize, outSize) in [(600, 1), (1, 600), (451, 505), (336, 337), (7, 3)] {
            let c = ResampleCoefficients(inSize: inSize, outSize: outSize, filter: .bicubic)
            for i in 0..<outSize {
                let sum = (0..<c.count[i]).reduce(0) { $0 + Int(c.weights[i * c.kernelSize + $1]) }
                XCTAssertLessThanOrEqual(abs(sum - (1 << 22)), c.count[i], "\(inSize)->\(outSize) index \(i)")
            }
        }
        // Downscaling widens the kernel (antialias): 600 → 1 reads every source pixel.
        XCTAssertEqual(ResampleCoefficients(inSize: 600, outSize: 1, filter: .bicubic).count, [600])
        // Upscaling keeps support 2: at most 4 taps.
        XCTAssertEqual(ResampleCoefficients(inSize: 10, outSize: 40, filter: .bicubic).count.max(), 4)
    }

    func testSameSizeIsACopyAndOneAxisResizeLeavesTheOtherAlone() throws {
        let source = fuzzSource(width: 9, height: 5)
        XCTAssertEqual(try source.resized(width: 9, height: 5), source)
        // Height only: every column is resampled independently, columns keep their order.
        let tall = try source.resized(width: 9, height: 11)
        let column = try source.cropped(x: 4, y: 0, width: 1, height: 5).resized(width: 1, height: 11)
        XCTAssertEqual((0..<11).map { tall[4, $0].r }, (0..<11).map { column[0, $0].r })
    }

    /// Pillow 13 resamples vertically first when the height shrinks by more than twice the width's
    /// shrink: 20×31 → 15×20 (11 > 2·5) goes vertical first, 20×30 → 15×20 (10 = 2·5) horizontal.
    /// The two orders give different bytes here, so the goldens pin the rule.
    func testPassOrderBoundary() throws {
        let src30 = fuzzSource(width: 20, height: 30), src31 = fuzzSource(width: 20, height: 31)
        let golden = try Fixtures.goldenBytes("fuzz_20x31_to_15x20.u8")
        XCTAssertEqual(try src31.resized(width: 15, height: 20).pixels, golden)
        for (source, name) in [(src30, "20x30"), (src31, "20x31")] {
            let expected = try XCTUnwrap(Fixtures.manifest.fuzz.first { $0.in == [source.width, source.height] && $0.out == [15, 20] })
            XCTAssertEqual(fnv1a64(try source.resized(width: 15, height: 20).pixels), expected.fnv, name)
        }
    }

    func testInvalidTargetSizeThrows() {
        let source = fuzzSource(width: 4, height: 4)
        assertImageError("resize target must be at least 1x1, got 0x3") { () throws(ImageError) in
            try source.resized(width: 0, height: 3)
        }
    }

    private func filterNamed(_ name: String) -> ResampleFilter? {
        ["bicubic": .bicubic, "bilinear": .bilinear, "box": .box, "hamming": .hamming, "lanczos": .lanczos][name]
    }
}
