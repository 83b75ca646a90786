/// Entry positions per interned name, in a dense table indexed by the name's number: appending costs no hashing.
struct NameIndex: Sendable, Equatable {
    private(set) var lists: [[Int32]] = []

    /// The positions filed under `id`, ascending (empty when none).
    subscript(id: Int32) -> [Int32] { Int(id) < lists.count ? lists[Int(id)] : [] }

    mutating func append(_ position: Int32, to id: Int32) {
        let i = Int(id)
        if i >= lists.count { lists.append(contentsOf: repeatElement([], count: i - lists.count + 1)) }
        lists[i].append(position)
    }

    /// Files `list` (ascending) under `id`, replacing what was there.
    mutating func set(_ list: [Int32], for id: Int32) {
        let i = Int(id)
        if i >= lists.count { lists.append(contentsOf: repeatElement([], count: i - lists.count + 1)) }
        lists[i] = list
    }

    /// The numbers with at least one position.
    var ids: [Int32] { lists.indices.filter { !lists[$0].isEmpty }.map { Int32($0) } }

    static func == (a: NameIndex, b: NameIndex) -> Bool { a.ids == b.ids && a.ids.allSatisfy { a[$0] == b[$0] } }
}
