// SPDX-License-Identifier: Apache-2.0

import Dispatch
import Synchronization

/// Work shared across cores by the wrappers of this package (compression,
/// typed encoders): an order-keeping map that runs on every core when there
/// is enough work to share.
package enum Parallel {
    /// The number of online processors.
    package static let processorCount = Posix.onlineProcessorCount

    /// `items.map(transform)`, on all cores when there are several items and at
    /// least `minimumBytes` of work (`totalBytes`); the first error thrown (in item
    /// order) is rethrown after every worker finished.
    package static func map<T: Sendable, R: Sendable>(
        _ items: [T], totalBytes: Int, minimumBytes: Int = 256 * 1024, _ transform: (T) throws -> R
    ) throws -> [R] {
        let workers = min(items.count, processorCount)
        guard workers > 1, totalBytes >= minimumBytes else { return try items.map(transform) }
        let results = Locked<[Int: Result<R, any Error>]>([:])
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(transform) { transform in
            let box = UncheckedBox(transform)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let index = next.add(1, ordering: .relaxed).oldValue
                    if index >= items.count { return }
                    let result = Result { try box.value(items[index]) }
                    results.withLock { $0[index] = result }
                }
            }
        }
        return try results.withLock { all in try (0..<items.count).map { try all[$0]!.get() } }
    }
}

/// Lets a non-escaping closure cross into `concurrentPerform`'s workers, which finish before it returns.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
