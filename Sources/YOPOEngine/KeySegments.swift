import Foundation
import YOPOCore

// Which keys each group's queries read, as attention segments: the plan's semantics for
// attention (METHOD.md §2 simulated masks, §3 skipped work), in one place.

extension TextDecoder {
    /// The key segments of `group`'s queries in layer `step.index`.
    /// - `past`: rows the layer's sequence store held before this call; `storedPositions`: absolute
    ///   positions of its rows after this call's (the sequence group's rows appended).
    func segments(for group: RowGroup, step: LayerStep, cache: KVCache, past: Int, storedPositions: [Int]) -> [KeySegment] {
        let layer = step.index, kvWidth = spec.keyValueWidth
        let keys = UnsafePointer(cache.keys[layer].data), values = UnsafePointer(cache.values[layer].data)
        let rows = step.rows, queries = group.queries
        switch group.store {
        case .sequence where !step.separate:
            return [sequenceSegment(group, step: step, cache: cache, past: past)]
        case .sequence:
            // Text rows (skip execution): the text store causally, then each image's visual keys
            // for the heads that still do visual work, for rows after the image.
            let local = Dictionary(uniqueKeysWithValues: group.rows.enumerated().map { ($1, $0) })
            let queryLocal = queries.map { local[$0]! }
            let positions = queries.map { rows.positions[$0] }
            var segments = [
                KeySegment(
                    keys: keys, values: values, stride: kvWidth, count: past + group.rows.count, kvHeads: nil, readBy: nil,
                    visibility: .block(
                        extent: { j0, b in past + queryLocal[j0 + b - 1] + 1 },
                        mask: { j, row, extent in
                            for c in (past + queryLocal[j] + 1)..<max(past + queryLocal[j] + 1, extent) { row[c] = -.infinity }
                        }))
            ]
            let stores = cache.visual[layer], plan = step.plan
            for (i, image) in cache.images.enumerated() where i < stores.count {
                let store = stores[i]
                segments.append(
                    KeySegment(
                        keys: UnsafePointer(store.keys.data), values: UnsafePointer(store.values.data), stride: store.width,
                        count: image.count, kvHeads: store.kvHeads, readBy: { plan.headDoesVisualWork($0) },
                        visibility: .block(
                            extent: { j0, b in image.start < positions[j0 + b - 1] ? image.count : 0 },
                            mask: { j, row, extent in
                                if image.start > positions[j] { for c in 0..<extent { row[c] = -.infinity } }
                            })))
            }
            return segments
        case .visual(let i):
            // Visual rows (skip execution): the keys before their image (text, earlier images'
            // stores), then their own image: the neighbourhood, or causally without one.
            let image = step.newImages[i]
            let imageIndex = cache.images.count - step.newImages.count + i
            let stores = cache.visual[layer]
            let textBefore = storedPositions.prefix { $0 < image.start }.count
            var segments = [
                KeySegment(
                    keys: keys, values: values, stride: kvWidth, count: textBefore, kvHeads: nil, readBy: nil,
                    visibility: .block(extent: { _, _ in textBefore }, mask: nil))
            ]
            for e in 0..<imageIndex {
                let store = stores[e], count = cache.images[e].count
                segments.append(
                    KeySegment(
                        keys: UnsafePointer(store.keys.data), values: UnsafePointer(store.values.data), stride: store.width,
                        count: count, kvHeads: store.kvHeads, readBy: nil, visibility: .block(extent: { _, _ in count }, mask: nil)))
            }
            let own = stores[imageIndex], n = image.count
            let visibility: KeySegment.Visibility
            if let radius = step.plan.neighbourRadius {
                if image.neighbourhoodCoversImage(radius: radius) {
                    // Every query's neighbourhood is the whole grid: one symmetric block.
                    visibility = .block(extent: { _, _ in n }, mask: nil)
                } else {
                    let rowsOfQueries = queries.map { rows.imageIndex[$0] }
                    visibility = .runs { j in image.neighbourRuns(of: rowsOfQueries[j], radius: radius) }
                }
            } else {
                visibility = .block(
                    extent: { j0, b in j0 + b },
                    mask: { j, row, extent in for c in (j + 1)..<max(j + 1, extent) { row[c] = -.infinity } })
            }
            segments.append(
                KeySegment(
                    keys: UnsafePointer(own.keys.data), values: UnsafePointer(own.values.data), stride: own.width, count: n,
                    kvHeads: own.kvHeads, readBy: nil, visibility: visibility))
            return segments
        }
    }

    /// The sequence store read by every row (dense, simulate, token pruning): causal, except that
    /// in simulate execution with a neighbourhood the visual rows of a new image see the keys before
    /// the image and their neighbourhood inside it (the official release's V×V mask), nothing after.
    private func sequenceSegment(_ group: RowGroup, step: LayerStep, cache: KVCache, past: Int) -> KeySegment {
        let layer = step.index, kvWidth = spec.keyValueWidth
        let rows = step.rows, queries = group.queries, n = rows.count
        // Row ranges of the new images' rows (contiguous runs of their visual rows).
        let newImageRows: [Range<Int>] = step.newImages.compactMap { image in
            let inside = rows.positions.indices.filter { rows.visual[$0] && image.range.contains(rows.positions[$0]) }
            guard let first = inside.first, let last = inside.last else { return nil }
            return first..<(last + 1)
        }
        let radius = step.execution == .simulate ? step.plan.neighbourRadius : nil
        let windowImage: [ImageLayout?] = queries.map { r in
            guard radius != nil, rows.visual[r] else { return nil }
            return step.newImages.first { $0.range.contains(rows.positions[r]) }
        }
        let positions = queries.map { rows.positions[$0] }
        // Qwen2-VL's simulated layer drop: image columns −∞ for rows at absolute index ≥ the image tokens.
        let cutImages =
            step.execution == .simulate && step.plan.simulateCutsVisualKeys(step.simulated) ? cache.images.map(\.range) : []
        let cutFrom = cache.images.reduce(0) { $0 + $1.count }
        return KeySegment(
            keys: UnsafePointer(cache.keys[layer].data), values: UnsafePointer(cache.values[layer].data), stride: kvWidth,
            count: past + n, kvHeads: nil, readBy: nil,
            visibility: .block(
                // Keys [0, E) of a block: the causal end of its last row, extended over any image it touches.
                extent: { j0, b in
                    let first = queries[j0], last = queries[j0 + b - 1]
                    var end = past + last + 1
                    for span in newImageRows where span.lowerBound <= last && span.upperBound > first {
                        if queries[j0..<(j0 + b)].contains(where: { span.contains($0) }) { end = max(end, past + span.upperBound) }
                    }
                    return end
                },
                mask: { j, row, end in
                    if let image = windowImage[j], let radius {
                        // Keys before the image stay; inside it only the neighbourhood's runs (one per
                        // grid row); after it none.
                        var next = image.start
                        for (a, b) in image.neighbourRuns(of: positions[j] - image.start, radius: radius) {
                            for c in next..<max(next, min(image.start + a, end)) { row[c] = -.infinity }
                            next = image.start + b + 1
                        }
                        for c in next..<max(next, end) { row[c] = -.infinity }
                    } else {
                        let r = queries[j]
                        for c in (past + r + 1)..<max(past + r + 1, end) { row[c] = -.infinity }
                    }
                    if !cutImages.isEmpty, positions[j] >= cutFrom {
                        for image in cutImages {
                            for c in image.lowerBound..<max(image.lowerBound, min(image.upperBound, end)) { row[c] = -.infinity }
                        }
                    }
                }))
    }
}
