import Foundation
import YOPOCore
import YOPOPruning

/// Prompt prefixes — a prompt's start through its last image, with the images encoded and the
/// decoder's reusable work on those rows done (`PromptPrefix`) — kept for later requests, so a
/// second question about the same image, or the next turn of a chat about it, prefills only the
/// new text. A server keeps one per session (`Session.stream(_:prefixCache:cancellation:)`).
///
/// **Keys.** An entry is found only by a request with the same session scope (checkpoint
/// directory and image preprocessing), the same image *bytes* in the same order (compared in full,
/// never by name or by hash alone), the same prefix token ids (template, system prompt, earlier
/// turns) and the same pruning spec and YOPO mode. Exact for dense and YOPO; the token-pruning
/// baselines reuse only the layers before their first pruning layer (`PromptPrefix`).
///
/// **Bounds.** At most `capacityBytes` of prefixes (`PromptPrefix.bytes`: keys, values and hidden
/// states) are held; the least recently used go first, and a prefix larger than the whole
/// capacity is not kept. Thread-safe.
public final class PrefixCache: @unchecked Sendable {
    /// What an entry is found by.
    public struct Key: Hashable, Sendable {
        /// The session's checkpoint and preprocessing (`Session.prefixScope`).
        public var scope: String
        /// Each image's encoded bytes, in prompt order.
        public var images: [Data]
        /// The prompt's tokens through its last image.
        public var prefixTokens: [Int]
        /// `PruningSpec.description` and the YOPO mode.
        public var prune: String
        public var mode: YOPOMode
    }

    /// Hits, misses and what is held.
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public var evictions = 0
        public var entries = 0
        public var bytes = 0

        public init() {}
    }

    public let capacityBytes: Int
    private let lock = NSLock()
    private var entries: [Key: (prefix: PromptPrefix, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    private var stats = Statistics()

    /// `capacityBytes` ≥ 0 (0 keeps nothing).
    public init(capacityBytes: Int) {
        self.capacityBytes = max(capacityBytes, 0)
    }

    public var statistics: Statistics {
        lock.lock()
        defer { lock.unlock() }
        return stats
    }

    /// The entry for `key`, marked as just used; counts a hit or a miss.
    func lookup(_ key: Key) -> PromptPrefix? {
        lock.lock()
        defer { lock.unlock() }
        clock += 1
        guard let entry = entries[key] else {
            stats.misses += 1
            return nil
        }
        entries[key] = (entry.prefix, clock)
        stats.hits += 1
        return entry.prefix
    }

    /// Keeps `prefix` under `key`, evicting the least recently used entries until it fits; a
    /// prefix larger than the capacity is not kept.
    func insert(_ key: Key, _ prefix: PromptPrefix) {
        lock.lock()
        defer { lock.unlock() }
        guard prefix.bytes <= capacityBytes else { return }
        if let old = entries.removeValue(forKey: key) { stats.bytes -= old.prefix.bytes }
        while stats.bytes + prefix.bytes > capacityBytes, let oldest = entries.min(by: { $0.value.used < $1.value.used }) {
            entries.removeValue(forKey: oldest.key)
            stats.bytes -= oldest.value.prefix.bytes
            stats.evictions += 1
        }
        clock += 1
        entries[key] = (prefix, clock)
        stats.bytes += prefix.bytes
        stats.entries = entries.count
    }

    /// Drops every entry.
    public func removeAll() {
        lock.lock()
        entries.removeAll()
        stats.bytes = 0
        stats.entries = 0
        lock.unlock()
    }
}

/// How a request used a `PrefixCache`: whether its prefix was found, and what the prefix covers.
public struct PrefixCacheUse: Codable, Sendable, Equatable {
    /// The prefix was in the cache (its image and prefill work was not repeated).
    public var hit: Bool
    /// Prompt tokens through the last image (the prefix's length).
    public var prefixTokens: Int
    /// Prompt tokens whose work was reused: `prefixTokens` on a hit, 0 on a miss.
    public var cachedTokens: Int { hit ? prefixTokens : 0 }
    /// Executed FLOPs of the prefix (vision, projector and its decoder layers), counted in the
    /// result's `flops` either way; on a hit they were executed by an earlier request.
    public var prefixFLOPs: Int

    enum CodingKeys: String, CodingKey {
        case hit, prefixTokens = "prefix_tokens", prefixFLOPs = "prefix_flops"
    }
}

extension Session {
    /// A request's prefix from the cache: found there (`hit`) or made and kept now, and the
    /// milliseconds the lookup spent decoding the images (0 unless the family's token counts need them).
    typealias CachedPrefix = (prefix: PromptPrefix, hit: Bool, imageMilliseconds: Double)

    /// What a `PrefixCache` key's scope holds for this session: the checkpoint directory and the
    /// image preprocessing options.
    public var prefixScope: String {
        let o = imageFrontOptions
        return "\(modelDirectory)|square=\(o.squareMode.map { "\($0)" } ?? "default")|min=\(o.minPixels ?? -1)|max=\(o.maxPixels ?? -1)"
    }

    /// `request`'s prefix from `cache`, made and kept there on a miss; nil when the request has no
    /// prefix to share: no image, an image given as a path (only bytes are keyed), or no text after
    /// the last image. A family whose image token count depends on the image (Qwen2-VL) decodes the
    /// images before the lookup, since the prefix's tokens (part of the key) need the counts; on a
    /// hit `imageMilliseconds` of the result says what that took. Runs inside the request's turn.
    /// Throws what `start` throws.
    func cachedPrefix(_ request: GenerationRequest, cache: PrefixCache) throws -> CachedPrefix? {
        var data: [Data] = []
        for image in request.images {
            guard case .data(let bytes) = image else { return nil }
            data.append(bytes)
        }
        guard !data.isEmpty else { return nil }
        let (plan, _, execution) = try execution(for: request)
        let decoded = model.fixedTokensPerImage == nil ? try decodeImages(request) : nil
        let prompt = try tokenizeChecked(request, plan: plan, images: decoded?.images)
        guard let split = prompt.imageSpans.last?.range.upperBound, split < prompt.ids.count else { return nil }
        let key = PrefixCache.Key(
            scope: prefixScope, images: data, prefixTokens: Array(prompt.ids[..<split]), prune: request.prune.description,
            mode: request.yopoMode)
        if let found = cache.lookup(key) { return (found, true, decoded?.milliseconds ?? 0) }
        let counter = FLOPCounter()
        let prepared = try prepare(request, plan: plan, counter: counter, decoded: decoded)
        guard
            let made = try makePrefix(
                prepared.prompt, images: prepared.images, features: prepared.features, request: request, execution: execution,
                counter: counter)
        else { return nil }
        let prefix = PromptPrefix(
            tokenIDs: made.tokenIDs, request: request, decoderPrefix: made.decoderPrefix, counter: made.counter,
            imageTokenCounts: made.imageTokenCounts, imageMilliseconds: prepared.imageMilliseconds,
            visionMilliseconds: prepared.visionMilliseconds, prefillMilliseconds: made.prefillMilliseconds)
        cache.insert(key, prefix)
        return (prefix, false, prepared.imageMilliseconds)
    }
}
