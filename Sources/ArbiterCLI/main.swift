// The `arbiter` executable: a worker when the master started it as one, else a master.
import Arbiter
import Configuration
import Glibc
import Platform
import Supervision
import Worker

Signal.endOnSentFatalSignals()

var environment: [String: String] = [:]
for entry in Environment.all() {
    if let equals = entry.firstIndex(of: "=") {
        environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
    }
}

if environment[WorkerLaunch.startupCheckVariable] != nil {
    exit(WorkerMain.checkStartup(environment: environment))
}
if environment[WorkerLaunch.slotVariable] != nil {
    exit(WorkerMain.run(environment: environment))
}
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "ctl" {
    exit(Ctl.run(arguments: Array(CommandLine.arguments.dropFirst(2)), environment: environment))
}
exit(ArbiterMain.run(arguments: Array(CommandLine.arguments.dropFirst()), environment: environment))
