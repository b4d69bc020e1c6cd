import Foundation

/// A tab-separated table read as pandas' `read_csv(path, sep='\t')` with its defaults reads it (the C
/// parser; what MMBench's loaders, LLaVA's `model_vqa_mmbench.py` included, use):
///
/// - the first record is the header; an empty name becomes `Unnamed: i` and a repeated name `name.1`,
///   `name.2`, … as pandas names them;
/// - a field starting with `"` is quoted: `""` inside it is one quote, tabs and line ends inside it are
///   data, and text after the closing quote is appended (`"ab"c` is `abc`); a `"` inside an unquoted
///   field is a literal character;
/// - records end at `\n`, `\r\n` or a lone `\r`; empty lines (and lines of spaces only) are skipped;
///   a UTF-8 byte order mark before the header is dropped;
/// - a field, quoted or not, that is exactly one of pandas' default NA strings (``''``, `#N/A`,
///   `#N/A N/A`, `#NA`, `-1.#IND`, `-1.#QNAN`, `-NaN`, `-nan`, `1.#IND`, `1.#QNAN`, `<NA>`, `N/A`,
///   `NA`, `NULL`, `NaN`, `None`, `n/a`, `nan`, `null`) is missing (nil). This is pandas' quirk, kept
///   on purpose: an MMBench option whose text is literally `None` (or `NA`) is a missing option in
///   every reference loader, so the question has one option fewer there and here.
///
/// Values stay the strings in the file: pandas' per-column type inference (`"1"` → 1, or 1.0 in a
/// column that also has missing values) is not replicated; callers convert the columns they need.
/// Where pandas differs and we refuse: a record with more fields than the header is an error in both;
/// a record with fewer fields, which pandas pads with NaN, is an error here too (a truncated
/// benchmark file must not score); a quote left open at the end of the file is an error in both.
public struct TSVTable: Sendable {
    /// The column names, in file order.
    public let header: [String]
    /// The data records, each with `header.count` fields; nil is a missing (NA) value.
    public let rows: [[String?]]

    /// The largest file this reader accepts, in bytes (2 GiB; MMBench dev with its images is ~0.1 GiB).
    public static let maximumBytes = 2 << 30

    /// The strings pandas reads as missing by default (`pandas._libs.parsers.STR_NA_VALUES`).
    public static let naStrings: Set<String> = [
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
        "NULL", "NaN", "None", "n/a", "nan", "null"
    ]

    /// Parses tab-separated UTF-8 bytes. Throws `EvalError.malformed` (naming the 1-based line) for a
    /// record whose field count differs from the header's, an unterminated quote or invalid UTF-8,
    /// `EvalError.missing` for an input without a header, `EvalError.tooLarge` over `maximumBytes`.
    public init(data: Data) throws {
        try self.init(data: data, name: "<data>")
    }

    /// Reads and parses the file at `path` (see `init(data:)`); a missing or unreadable file is
    /// `EvalError.missing`, one over `maximumBytes` is `EvalError.tooLarge` before it is read.
    public init(contentsOf path: String) throws {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let attributes else { throw EvalError.missing(file: path, what: "file (cannot open)") }
        if let size = (attributes[.size] as? NSNumber)?.intValue, size > Self.maximumBytes {
            throw EvalError.tooLarge(file: path, bytes: size, limit: Self.maximumBytes)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvalError.missing(file: path, what: "file (cannot read)")
        }
        try self.init(data: data, name: path)
    }

    init(data: Data, name: String) throws {
        if data.count > Self.maximumBytes { throw EvalError.tooLarge(file: name, bytes: data.count, limit: Self.maximumBytes) }
        var records = try data.withUnsafeBytes { raw in
            try TSVTokenizer(bytes: raw.bindMemory(to: UInt8.self), name: name).records()
        }
        guard !records.isEmpty else { throw EvalError.missing(file: name, what: "header row (the file is empty)") }
        let headerRecord = records.removeFirst()
        header = Self.columnNames(headerRecord.fields)
        for record in records where record.fields.count != header.count {
            throw EvalError.malformed(
                file: name, line: record.line, message: "expected \(header.count) tab-separated fields, saw \(record.fields.count)")
        }
        rows = records.map { record in record.fields.map { Self.naStrings.contains($0) ? nil : $0 } }
    }

    /// pandas' names for the header fields: empty → `Unnamed: i`, repeats → `name.1`, `name.2`, ….
    static func columnNames(_ fields: [String]) -> [String] {
        var names: [String] = []
        var counts: [String: Int] = [:]
        for (i, field) in fields.enumerated() {
            var name = field.isEmpty ? "Unnamed: \(i)" : field
            if let seen = counts[name] {
                var k = seen
                while names.contains("\(name).\(k)") { k += 1 }
                counts[name] = k + 1
                name = "\(name).\(k)"
            } else {
                counts[name] = 1
            }
            names.append(name)
        }
        return names
    }

    /// The index of the column named `name`, or nil.
    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }

    /// The value in data row `row` (0-based; traps when out of range like an array) of the column named
    /// `column`; nil when the column does not exist or the value is missing.
    public subscript(row: Int, column: String) -> String? {
        guard let index = self.column(column) else { return nil }
        return rows[row][index]
    }
}

/// The C parser's state machine for `sep='\t'`, `quotechar='"'`, `doublequote=True`, `skip_blank_lines=True`.
private struct TSVTokenizer {
    struct Record {
        var line: Int
        var fields: [String]
    }

    let bytes: UnsafeBufferPointer<UInt8>
    let name: String

    private static let tab = UInt8(ascii: "\t"), quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n")
    private static let cr = UInt8(ascii: "\r"), space = UInt8(ascii: " ")

    func records() throws -> [Record] {
        var records: [Record] = []
        var i = 0
        let n = bytes.count
        if n >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
        var line = 1
        var field: [UInt8] = []
        var fields: [String] = []
        var recordLine = 1

        func isLineEnd(_ c: UInt8) -> Bool { c == Self.lf || c == Self.cr }
        // Consumes the line end at `i` (one of \n, \r\n, \r) and counts it.
        func skipLineEnd(_ i: inout Int, _ line: inout Int) {
            if bytes[i] == Self.cr, i + 1 < n, bytes[i + 1] == Self.lf { i += 1 }
            i += 1
            line += 1
        }
        func text(_ bytes: [UInt8], _ line: Int) throws -> String {
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw EvalError.malformed(file: name, line: line, message: "a field is not valid UTF-8")
            }
            return s
        }

        while i < n {
            // Start of a record: skip empty lines and lines of spaces only.
            var j = i
            while j < n, bytes[j] == Self.space { j += 1 }
            if j == n { break }
            if isLineEnd(bytes[j]) {
                i = j
                skipLineEnd(&i, &line)
                continue
            }
            recordLine = line
            fields.removeAll(keepingCapacity: true)
            // Fields of one record.
            var recordDone = false
            while !recordDone {
                field.removeAll(keepingCapacity: true)
                var quoted = false
                if i < n, bytes[i] == Self.quote {
                    quoted = true
                    i += 1
                }
                var fieldDone = false
                while !fieldDone {
                    if i == n {
                        if quoted {
                            throw EvalError.malformed(file: name, line: recordLine, message: "EOF inside a quoted field")
                        }
                        fieldDone = true
                        recordDone = true
                        break
                    }
                    let c = bytes[i]
                    if quoted {
                        if c == Self.quote {
                            if i + 1 < n, bytes[i + 1] == Self.quote {
                                field.append(Self.quote)
                                i += 2
                            } else {
                                quoted = false  // after the closing quote the field goes on unquoted
                                i += 1
                            }
                        } else {
                            if c == Self.lf || (c == Self.cr && !(i + 1 < n && bytes[i + 1] == Self.lf)) { line += 1 }
                            field.append(c)
                            i += 1
                        }
                    } else if c == Self.tab {
                        i += 1
                        fieldDone = true
                    } else if isLineEnd(c) {
                        skipLineEnd(&i, &line)
                        fieldDone = true
                        recordDone = true
                    } else {
                        field.append(c)
                        i += 1
                    }
                }
                fields.append(try text(field, recordLine))
            }
            records.append(Record(line: recordLine, fields: fields))
        }
        return records
    }
}
