import Foundation

/// A minimal PNG writer for hostile test images (Foundation has no zlib on Linux): IHDR fields are
/// written as given, unchecked, so bad headers can be built; pixel data is stored (uncompressed)
/// deflate, or, for all-zero data, a fixed-Huffman stream of 258-byte runs (about 160:1).
/// Shared by YOPOImageTests and the yopoTests sweep (the TestSupport target).
public enum TestPNG {
    /// Colour type → samples per pixel.
    public static func channels(colorType: UInt8) -> Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 1 }

    /// A PNG of `width × height` (colour type, bit depth, interlace as given). Pixel data: `rows`
    /// (unfiltered scanlines, each prefixed here with filter byte 0) or zeros (1 KB of zeros when the
    /// image would need more than 64 MiB: a bomb); `zlib` replaces the
    /// IDAT payload; `ihdr` the 13 IHDR bytes.
    public static func make(
        width: UInt32, height: UInt32, depth: UInt8 = 8, colorType: UInt8 = 2, interlace: UInt8 = 0,
        rows: [[UInt8]]? = nil, zlib: [UInt8]? = nil, ihdr: [UInt8]? = nil, extraChunks: [(String, [UInt8])] = []
    )
        -> [UInt8]
    {
        let header = ihdr ?? (be32(width) + be32(height) + [depth, colorType, 0, 0, interlace])
        let payload: [UInt8]
        if let zlib {
            payload = zlib
        } else if let rows {
            payload = zlibStored(rows.flatMap { [0] + $0 })
        } else {
            // Zeros for the whole image, unless it is too large to build: then 1 KB of them (a bomb).
            let bits = Int(width).multipliedReportingOverflow(by: channels(colorType: colorType) * Int(depth))
            let raw = ((bits.partialValue + 7) / 8 + 1).multipliedReportingOverflow(by: Int(height))
            payload = zlibZeros(count: bits.overflow || raw.overflow || raw.partialValue > 1 << 26 ? 1024 : raw.partialValue)
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        out += chunk("IHDR", header)
        for (type, data) in extraChunks { out += chunk(type, data) }
        out += chunk("IDAT", payload)
        out += chunk("IEND", [])
        return out
    }

    public static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return be32(UInt32(data.count)) + typed + be32(crc32(typed))
    }

    public static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes {
            a = (a + UInt32(x)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    /// zlib stream of stored deflate blocks.
    public static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65535, data.count - i)
            let final: UInt8 = i + n == data.count ? 1 : 0
            out += [final, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
            out += data[i..<(i + n)]
            i += n
        } while i < data.count
        return out + be32(adler32(data))
    }

    /// zlib stream inflating to `count` zero bytes: one fixed-Huffman block, a literal 0 then
    /// matches of length 258 at distance 1, then literals.
    public static func zlibZeros(count: Int) -> [UInt8] {
        var bits = BitWriter()
        bits.write(1, count: 1)  // BFINAL
        bits.write(1, count: 2)  // BTYPE = 01, fixed Huffman (LSB first)
        var left = count
        if left > 0 { bits.writeCode(0x30, length: 8); left -= 1 }  // literal 0
        while left >= 258 {
            bits.writeCode(0b1100_0101, length: 8)  // length symbol 285 = 258
            bits.writeCode(0, length: 5)  // distance code 0 = 1
            left -= 258
        }
        while left > 0 { bits.writeCode(0x30, length: 8); left -= 1 }
        bits.writeCode(0, length: 7)  // end of block (256)
        // Adler-32 of `count` zeros: a = 1, b = count mod 65521.
        return [0x78, 0x01] + bits.bytes + be32(UInt32(count % 65521) << 16 | 1)
    }

    struct BitWriter {
        var bytes: [UInt8] = []
        var used = 8
        /// `count` bits of `value`, least significant first.
        mutating func write(_ value: Int, count: Int) {
            for i in 0..<count { push((value >> i) & 1) }
        }
        /// A Huffman code, most significant bit first.
        mutating func writeCode(_ code: Int, length: Int) {
            for i in stride(from: length - 1, through: 0, by: -1) { push((code >> i) & 1) }
        }
        private mutating func push(_ bit: Int) {
            if used == 8 { bytes.append(0); used = 0 }
            bytes[bytes.count - 1] |= UInt8(bit) << UInt8(used)
            used += 1
        }
    }

    /// `jpeg` with its frame header (SOF0/1/2) changed to `width × height`, and `precision` if given.
    public static func patchingJPEGFrame(_ jpeg: [UInt8], width: Int, height: Int, precision: UInt8? = nil) -> [UInt8] {
        var b = jpeg
        var i = 2
        while i + 9 < b.count, b[i] == 0xFF {
            let marker = b[i + 1], length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if [0xC0, 0xC1, 0xC2].contains(marker) {
                if let precision { b[i + 4] = precision }
                b[i + 5] = UInt8(height >> 8); b[i + 6] = UInt8(height & 255)
                b[i + 7] = UInt8(width >> 8); b[i + 8] = UInt8(width & 255)
                return b
            }
            i += 2 + length
        }
        preconditionFailure("no frame header")
    }

    /// A greyscale progressive JPEG (SOF2) of `width × height`: one DC scan coding every block as
    /// "no change" (1 bit a block), then `acScans` empty AC scans (a scan header, no data: libjpeg
    /// only warns, and still visits every block), then EOI. With thousands of scans this is the
    /// "progressive scan" denial of service libjpeg-turbo's TJFLAG_LIMITSCANS guards against.
    public static func progressiveJPEG(width: Int, height: Int, acScans: Int) -> [UInt8] {
        func segment(_ marker: UInt8, _ body: [UInt8]) -> [UInt8] {
            [0xFF, marker, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 255)] + body
        }
        var out: [UInt8] = [0xFF, 0xD8]
        out += segment(0xDB, [0] + [UInt8](repeating: 1, count: 64))  // DQT 0: all ones
        out += segment(
            0xC2,
            [
                8, UInt8(height >> 8), UInt8(height & 255), UInt8(width >> 8), UInt8(width & 255),
                1, 1, 0x11, 0
            ])  // SOF2, one component
        // DHT DC 0 and AC 0: one 1-bit code "0", for category 0 (DC) / end of block (AC).
        out += segment(0xC4, [0x00, 1] + [UInt8](repeating: 0, count: 15) + [0])
        out += segment(0xC4, [0x10, 1] + [UInt8](repeating: 0, count: 15) + [0])
        out += segment(0xDA, [1, 1, 0x00, 0, 0, 0])  // DC first scan
        let blocks = ((width + 7) / 8) * ((height + 7) / 8)
        out += [UInt8](repeating: 0, count: (blocks + 7) / 8)
        let acScan = segment(0xDA, [1, 1, 0x00, 1, 63, 0])  // AC 1…63 first scan, no data
        for _ in 0..<acScans { out += acScan }
        return out + [0xFF, 0xD9]
    }
}
