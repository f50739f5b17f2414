import Foundation

/// The process's own figures for `/metrics`, under the names Prometheus client libraries use
/// (`process_*`), read from `/proc/self` (Linux).
struct ProcessFigures {
    var residentBytes: Int?
    var cpuSeconds: Double?
    var openDescriptors: Int?
    var startTimeSeconds: Double?

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Int(fields[1]) { figures.residentBytes = pages * page }
        }
        // /proc/self/stat: the fields after the command name's closing parenthesis; utime and
        // stime are the 14th and 15th fields of the whole line, starttime the 22nd.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 19, let user = Double(fields[11]), let system = Double(fields[12]), let start = Double(fields[19]), ticks > 0 {
                figures.cpuSeconds = (user + system) / ticks
                if let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8).split(separator: " ").first.flatMap({ Double($0) }) {
                    figures.startTimeSeconds = (Date().timeIntervalSince1970 - uptime + start / ticks).rounded()
                }
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            figures.openDescriptors = entries.count
        }
        return figures
    }

    func render(into out: inout Exposition) {
        if let residentBytes { out.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", residentBytes) }
        if let cpuSeconds { out.single("process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.", cpuSeconds) }
        if let openDescriptors { out.single("process_open_fds", "gauge", "Open file descriptors (client connections among them).", openDescriptors) }
        if let startTimeSeconds { out.single("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, seconds.", startTimeSeconds) }
    }
}
