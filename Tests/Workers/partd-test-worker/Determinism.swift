// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompanions
import PartdTestSupport

/// Writes `determinismSamples` to files in `directory`, and a dataset entry (JSON data holding a dictionary,
/// and metadata) under `directory/db`.
func writeDeterminismSamples(to directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for sample in try determinismSamples() {
        try Data(sample.bytes).write(to: URL(fileURLWithPath: directory + "/" + sample.name))
    }
    let database = try DatasetDirectory(path: directory + "/db", encoding: .json)
    let counts = Dictionary(uniqueKeysWithValues: (0..<12).map { ("key-\($0)", $0) })
    try database.entry("counts").write(
        counts,
        metadata: Dictionary(uniqueKeysWithValues: (0..<12).map { ("field-\($0)", JSONValue.integer(Int64($0))) }))
}
