// SPDX-License-Identifier: Apache-2.0

import PartdTyped

/// Input of the multi-host shuffle tests: row `r` (0 ..< rows) has
/// `id = r * 7919 % 100_003`, `x = Double(r)` and `name = "n\(r % 1000)"`, so a
/// reader can tell from `x` which row it holds and check the other columns.
/// Mapper `mapper` of `mappers` owns rows `rows * mapper / mappers ..< rows * (mapper + 1) / mappers`,
/// in chunks of at most `chunkRows`.
public func redisShuffleSlice(mapper: Int, mappers: Int, rows: Int, chunkRows: Int = 20_000) -> [Table] {
    let lower = rows * mapper / mappers
    let upper = rows * (mapper + 1) / mappers
    return stride(from: lower, to: upper, by: chunkRows).map { start in
        let range = start..<min(start + chunkRows, upper)
        return try! Table([
            Column("id", range.map { Int64($0 * 7919 % 100_003) }),
            Column("x", range.map { Double($0) }),
            Column("name", strings: StringArray(range.map { "n\($0 % 1000)" })),
        ])
    }
}
