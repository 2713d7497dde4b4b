import Configuration
import Glibc
import Platform

/// A reply of `arbiter ctl`: the same facts as text for people and as JSON for programs.
struct ControlReply {
    let text: String
    let json: JSONValue
}

extension Master {
    /// `status`: master pid, generation, uptime, listeners, workers wanted and running, reloads.
    func statusReply() -> ControlReply {
        let uptime = Clock.monotonic() - (control?.startedAt ?? Clock.monotonic())
        let ready = machine.workers.values.filter { $0.ready && !$0.retiring }.count
        let state = machine.isStopping ? "stopping" : machine.isReloading ? "reloading" : machine.isHealthy ? "serving" : "starting"
        let names = listeners.map(\.name)
        var fields: [(String, JSONValue)] = [
            ("ok", .bool(true)),
            ("master_pid", .integer(Int(ProcessControl.pid))),
            ("state", .string(state)),
            ("generation", .integer(machine.generation)),
            ("uptime_seconds", .number(seconds(uptime))),
            ("listeners", .array(names.map(JSONValue.string))),
            ("worker_class", .string(settings.workerClass.rawValue)),
            ("workers", .object([("wanted", .integer(machine.config.workers)), ("running", .integer(ready)),
                                 ("processes", .integer(workers.count))])),
            ("reloads", .object([("done", .integer(control?.reloadsDone ?? 0)), ("rolled_back", .integer(control?.reloadsRolledBack ?? 0))])),
        ]
        if let successor { fields.append(("new_master_pid", .integer(Int(successor)))) }
        var text = """
            master pid:   \(ProcessControl.pid)
            state:        \(state)
            generation:   \(machine.generation)
            uptime:       \(seconds(uptime)) s
            listeners:    \(names.isEmpty ? "-" : names.joined(separator: ", "))
            worker class: \(settings.workerClass.rawValue)
            workers:      \(ready) running of \(machine.config.workers) wanted (\(workers.count) processes)
            reloads:      \(control?.reloadsDone ?? 0) done, \(control?.reloadsRolledBack ?? 0) rolled back
            """
        if let successor { text += "\nnew master:   pid \(successor)" }
        return ControlReply(text: text, json: .object(fields))
    }

    /// `workers`: each worker with what it is doing now, from its heartbeat page (read without
    /// asking the worker, so a stuck worker shows as stuck instead of stalling the reply).
    func workersReply() -> ControlReply {
        let now = Clock.monotonic()
        let micros = Heartbeat.now
        var rows: [JSONValue] = []
        var lines = ["SLOT  PID       GEN  AGE(s)   STATE     SERVED    PSS(KiB)  IN FLIGHT"]
        let entries = machine.workers.sorted { ($0.value.slot, $0.key) < ($1.value.slot, $1.key) }
        for (pid, state) in entries {
            let page = workers[pid]
            let served = page.map { Int($0.heartbeat.served) } ?? 0
            let memory = Memory.proportionalKiB(pid)
            let status = state.retiring ? "retiring" : state.ready ? "ready" : "booting"
            var requests: [JSONValue] = []
            var summaries: [String] = []
            if let page {
                // An event-loop worker's slot 0 is the job its loop runs (or last ran); its requests follow.
                let first = page.kind == .async ? 1 : 0
                for slot in first..<max(first, min(page.heartbeat.slots, page.heartbeatSlots)) {
                    guard let job = page.heartbeat.read(slot: slot) else { continue }
                    let parts = job.label.split(separator: " ", maxSplits: 1).map(String.init)
                    let elapsed = micros > job.busySince ? seconds(Double(micros - job.busySince) / 1_000_000) : 0
                    requests.append(.object([
                        ("method", .string(parts.first ?? "")), ("path", .string(parts.count > 1 ? parts[1] : "")),
                        ("elapsed_seconds", .number(elapsed)), ("slot", .integer(slot)),
                    ]))
                    summaries.append("\(job.label) (\(elapsed) s)")
                }
            }
            let age = seconds(now - state.spawnedAt)
            rows.append(.object([
                ("slot", .integer(state.slot)), ("pid", .integer(Int(pid))), ("generation", .integer(state.generation)),
                ("age_seconds", .number(age)), ("state", .string(status)), ("requests_served", .integer(served)),
                ("memory_kib", memory.map(JSONValue.integer) ?? .null), ("in_flight", .array(requests)),
            ]))
            lines.append([
                pad(String(state.slot), 6), pad(String(pid), 10), pad(String(state.generation), 5), pad(String(age), 9),
                pad(status, 10), pad(String(served), 10), pad(memory.map(String.init) ?? "-", 10),
                summaries.isEmpty ? "-" : summaries.joined(separator: ", "),
            ].joined())
        }
        return ControlReply(text: lines.joined(separator: "\n"), json: .object([("ok", .bool(true)), ("workers", .array(rows))]))
    }

    /// `config`: the effective settings (what the current generation runs with).
    func configReply() -> ControlReply {
        var fields: [(String, JSONValue)] = []
        for setting in Registry.all {
            let values = setting.values(of: settings)
            if case .list = setting.kind {
                fields.append((setting.name, .array(values.map(JSONValue.string))))
            } else {
                fields.append((setting.name, values.first.map(JSONValue.string) ?? .null))
            }
        }
        return ControlReply(text: ConfigFile.render(settings), json: .object([("ok", .bool(true)), ("settings", .object(fields))]))
    }

    private func seconds(_ value: Double) -> Double { (value * 10).rounded() / 10 }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
