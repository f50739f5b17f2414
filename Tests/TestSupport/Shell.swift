import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a bash command line on a thread of its own (it blocks) and returns its standard output;
/// throws on a non-zero exit. Uses `system(3)`: Foundation's `Process` on Linux can miss a
/// child's exit and wait forever.
public func shell(_ command: String) async throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shell-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let script = directory.appendingPathComponent("command.sh")
    try ("set -euo pipefail\n" + command + "\n").write(to: script, atomically: true, encoding: .utf8)
    let out = directory.appendingPathComponent("out").path
    let err = directory.appendingPathComponent("err").path
    let line = "/bin/bash '\(script.path)' > '\(out)' 2> '\(err)' < /dev/null"
    let status = await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: system(line)) }.start()
    }
    let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    guard status == 0 else {
        struct Failed: Error, CustomStringConvertible { var description: String }
        let errors = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        throw Failed(description: "`\(command)` exited with status \(status): \(errors)")
    }
    return output
}
