import Foundation
import SeededRandom

// Shared by the libFuzzer targets (Sources/Fuzz*/, run by deploy/fuzz). Each target exports
// `LLVMFuzzerTestOneInput`; built with `--sanitize fuzzer -Xswiftc -DFUZZING`, libFuzzer's own
// `main` drives it. In a normal build (no FUZZING) each target gets a `@main` that replays files
// through the same checks instead, so `swift build` links it and a crash file can be rerun
// without the sanitizer: `.build/debug/FuzzHTTPRequestParser crash-<sha1>`.

/// The bytes libFuzzer hands over, copied (the buffer is only valid during the call).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Stops the process when `condition` is false, so libFuzzer keeps the input as a crash.
/// Unlike `assert`, checked in every build configuration.
public func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() { fatalError(message(), file: file, line: line) }
}

/// Runs `body` once per input: each path is a file, or a directory whose regular files are
/// read in name order. Prints how many inputs ran.
/// - Returns: the process exit status (2 when a path cannot be read).
public func replay(_ paths: [String], through body: ([UInt8]) -> Void) -> Int32 {
    guard !paths.isEmpty else {
        print(
            "usage: \(CommandLine.arguments.first ?? "fuzz-target") FILE|DIRECTORY...  (replays inputs; built with -DFUZZING it is a libFuzzer target)"
        )
        return 2
    }
    let files = FileManager.default
    var count = 0
    for path in paths {
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: path, isDirectory: &isDirectory) else {
            print("\(path): no such file or directory")
            return 2
        }
        let inputs =
            isDirectory.boolValue
            ? ((try? files.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" } : [path]
        for input in inputs {
            guard let data = files.contents(atPath: input) else { continue }  // a subdirectory
            body(Array(data))
            count += 1
        }
    }
    print("\(count) inputs replayed, every check held")
    return 0
}

/// The normal build's `main`: replays the files and directories named on the command line.
public func replayCommandLine(through body: ([UInt8]) -> Void) -> Never {
    exit(replay(Array(CommandLine.arguments.dropFirst()), through: body))
}

/// A small deterministic generator (`SplitMix64`), seeded from the input so that a run depends on
/// the input alone and a crash file reproduces it.
public struct InputRandom {
    private var generator: SplitMix64

    /// Seeded with the FNV-1a hash of `bytes`.
    public init(seed bytes: [UInt8]) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        generator = SplitMix64(seed: hash)
    }

    public mutating func next() -> UInt64 { generator.next() }

    /// A value in `1...upper` (`upper` ≥ 1).
    public mutating func size(upTo upper: Int) -> Int { 1 + Int(next() % UInt64(upper)) }
}
