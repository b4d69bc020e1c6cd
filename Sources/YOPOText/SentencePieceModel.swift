import Foundation

/// The parts of SentencePiece's `ModelProto` (sentencepiece_model.proto) that encoding and decoding
/// read. Fields the trainer alone uses are skipped. Defaults are the proto's declared defaults.
public struct SentencePieceModelProto: Sendable, Equatable {
    /// `ModelProto.SentencePiece.Type`.
    public enum PieceType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// One vocabulary entry; its id is its index in `pieces`.
    public struct Piece: Sendable, Equatable {
        public var piece: String
        public var score: Float
        public var type: PieceType
    }

    /// `TrainerSpec.ModelType`.
    public enum ModelType: Int, Sendable {
        case unigram = 1, bpe = 2, word = 3, char = 4
    }

    /// `TrainerSpec` fields that affect encoding (ids are −1 when disabled).
    public struct TrainerSpec: Sendable, Equatable {
        public var modelType: ModelType = .unigram
        public var vocabSize: Int = 8000
        public var byteFallback = false
        public var treatWhitespaceAsSuffix = false
        public var unknownID = 0
        public var bosID = 1
        public var eosID = 2
        public var padID = -1
        public var unknownSurface = " \u{2047} "
    }

    /// `NormalizerSpec`.
    public struct NormalizerSpec: Sendable, Equatable {
        public var name = ""
        /// Bytes of the compiled normalisation rules; empty for the identity normaliser.
        public var precompiledCharsmapSize = 0
        public var addDummyPrefix = true
        public var removeExtraWhitespaces = true
        public var escapeWhitespaces = true
    }

    public var pieces: [Piece] = []
    public var trainerSpec = TrainerSpec()
    public var normalizerSpec = NormalizerSpec()

    /// Parses a serialised `ModelProto` (the bytes of a `tokenizer.model` file).
    /// Throws `TokenizerError.corrupt` naming `path` when the bytes are not a valid message.
    public init(data: Data, path: String = "<memory>") throws {
        do {
            try data.withUnsafeBytes { raw in
                var r = ProtobufReader(raw)
                while let (field, value) = try r.next() {
                    switch field {
                    case 1: pieces.append(try Self.parsePiece(r.sub(try value.range())))
                    case 2: trainerSpec = try Self.parseTrainerSpec(r.sub(try value.range()))
                    case 3: normalizerSpec = try Self.parseNormalizerSpec(r.sub(try value.range()))
                    default: break
                    }
                }
            }
        } catch let e as ProtobufError {
            throw TokenizerError.corrupt(path, reason: e.description)
        }
        guard !pieces.isEmpty else { throw TokenizerError.corrupt(path, reason: "no pieces in the model") }
    }

    private static func parsePiece(_ reader: ProtobufReader) throws -> Piece {
        var r = reader
        var p = Piece(piece: "", score: 0, type: .normal)
        while let (field, value) = try r.next() {
            switch field {
            case 1: p.piece = try r.string(try value.range())
            case 2: p.score = try value.float()
            case 3:
                let t = try value.int32()
                guard let type = PieceType(rawValue: t) else { throw ProtobufError.malformed("unknown piece type \(t)") }
                p.type = type
            default: break
            }
        }
        return p
    }

    private static func parseTrainerSpec(_ reader: ProtobufReader) throws -> TrainerSpec {
        var r = reader
        var s = TrainerSpec()
        while let (field, value) = try r.next() {
            switch field {
            case 3:
                let t = try value.int32()
                guard let m = ModelType(rawValue: t) else { throw ProtobufError.malformed("unknown model type \(t)") }
                s.modelType = m
            case 4: s.vocabSize = try value.int32()
            case 24: s.treatWhitespaceAsSuffix = try value.bool()
            case 35: s.byteFallback = try value.bool()
            case 40: s.unknownID = try value.int32()
            case 41: s.bosID = try value.int32()
            case 42: s.eosID = try value.int32()
            case 43: s.padID = try value.int32()
            case 44: s.unknownSurface = try r.string(try value.range())
            default: break
            }
        }
        return s
    }

    private static func parseNormalizerSpec(_ reader: ProtobufReader) throws -> NormalizerSpec {
        var r = reader
        var s = NormalizerSpec()
        while let (field, value) = try r.next() {
            switch field {
            case 1: s.name = try r.string(try value.range())
            case 2: s.precompiledCharsmapSize = try value.range().count
            case 3: s.addDummyPrefix = try value.bool()
            case 4: s.removeExtraWhitespaces = try value.bool()
            case 5: s.escapeWhitespaces = try value.bool()
            default: break
            }
        }
        return s
    }
}
