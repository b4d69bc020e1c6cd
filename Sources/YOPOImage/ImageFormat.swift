/// The encoded formats `ImageDecoder` reads. Detection is by magic bytes, never by file extension.
public enum ImageFormat: String, CaseIterable, Sendable, Codable {
    case jpeg
    case png

    /// Human-readable name used in error messages ("JPEG", "PNG").
    public var name: String {
        switch self {
        case .jpeg: return "JPEG"
        case .png: return "PNG"
        }
    }

    /// Result of sniffing the first bytes of a buffer.
    public enum Sniffed: Equatable, Sendable {
        /// A format this package decodes.
        case supported(ImageFormat)
        /// A known image format this package does not decode, by name ("WebP", "GIF", …).
        case unsupported(String)
        /// Nothing recognised; the associated string describes the first bytes for error messages.
        case unknown(String)
    }

    /// Identifies `bytes` from their leading magic numbers.
    ///
    /// Supported: JPEG (`FF D8 FF`), PNG (`89 50 4E 47 0D 0A 1A 0A`). Recognised but unsupported:
    /// WebP, GIF, BMP, TIFF, HEIF/HEIC, AVIF, JPEG 2000, JPEG XL, ICO, QOI, PSD, PDF, SVG/XML.
    public static func sniff<C: Collection>(_ bytes: C) -> Sniffed where C.Element == UInt8 {
        let head = Array(bytes.prefix(32))
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }

        if starts([0xFF, 0xD8, 0xFF]) { return .supported(.jpeg) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .supported(.png) }
        if starts(ascii("RIFF")) && starts(ascii("WEBP"), at: 8) { return .unsupported("WebP") }
        if starts(ascii("GIF87a")) || starts(ascii("GIF89a")) { return .unsupported("GIF") }
        if starts(ascii("BM")) && head.count >= 14 { return .unsupported("BMP") }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .unsupported("TIFF") }
        if starts(ascii("ftyp"), at: 4) && head.count >= 12 {
            let brand = String(decoding: head[8..<12], as: UTF8.self)
            if brand.hasPrefix("avi") { return .unsupported("AVIF") }
            return .unsupported("HEIF/HEIC")
        }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
            return .unsupported("JPEG 2000")
        }
        if starts([0xFF, 0x0A]) || starts([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) {
            return .unsupported("JPEG XL")
        }
        if starts([0x00, 0x00, 0x01, 0x00]) { return .unsupported("ICO") }
        if starts(ascii("qoif")) { return .unsupported("QOI") }
        if starts(ascii("8BPS")) { return .unsupported("PSD") }
        if starts(ascii("%PDF")) { return .unsupported("PDF") }
        let text = String(decoding: head, as: UTF8.self).trimmingLeadingWhitespace()
        if text.hasPrefix("<svg") || text.hasPrefix("<?xml") { return .unsupported("SVG/XML") }

        let shown = head.prefix(8).map { byte -> String in
            let hex = String(byte, radix: 16, uppercase: true)
            return byte < 16 ? "0" + hex : hex
        }.joined(separator: " ")
        return .unknown("unrecognised data starting with \(shown)")
    }
}

extension String {
    fileprivate func trimmingLeadingWhitespace() -> Substring {
        self.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" || $0 == "\u{FEFF}" }
    }
}
