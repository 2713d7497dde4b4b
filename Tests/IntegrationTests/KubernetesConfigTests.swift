import Platform
import Testing
import TestSupport

extension Integration {
    /// `config/kubernetes/deployment.yaml` stays true to arbiter: its arguments parse, the grace
    /// period covers the shutdown delay plus the graceful timeout, and the probes ask the metrics
    /// listener for /livez and /readyz.
    @Suite struct KubernetesConfig {
        static let path = Products.packageRoot + "/config/kubernetes/deployment.yaml"

        @Test func theDeploymentMatchesArbitersSettings() throws {
            let lines = try Files.readString(Self.path).split(separator: "\n").map { $0.trimmingCharacters(in: " ") }
            guard let argsAt = lines.firstIndex(of: "args:") else { throw TestFailure("no args in \(Self.path)") }
            let arguments = lines[(argsAt + 1)...].prefix { $0.hasPrefix("- ") }.map { String($0.dropFirst(2)) }
            let printed = try run([Products.arbiter] + arguments + ["--print-config"])
            #expect(printed.code == 0, "arbiter rejects the Deployment's arguments: \(printed.output)")
            var config: [String: String] = [:]
            for line in printed.output.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: " ") }
                if parts.count == 2 { config[parts[0]] = parts[1] }
            }
            let delay = Double(config["shutdown_delay"] ?? "") ?? 0
            let graceful = Double(config["graceful_timeout"] ?? "") ?? 0
            #expect(delay > 0, "the Deployment sets a shutdown delay")
            let grace = lines.first { $0.hasPrefix("terminationGracePeriodSeconds:") }
                .flatMap { Double($0.split(separator: ":")[1].trimmingCharacters(in: " ")) }
            #expect((grace ?? 0) >= delay + graceful, "terminationGracePeriodSeconds \(grace ?? 0) < \(delay) + \(graceful)")
            // The probes' port is the metrics listener's.
            let metricsPort = config["metrics_bind"]?.split(separator: ":").last.map(String.init)
            let portIndex = lines.firstIndex(of: "- name: metrics")
            #expect(portIndex.map { lines[$0 + 1] } == "containerPort: \(metricsPort ?? "-")")
            let text = lines.joined(separator: "\n")
            #expect(text.contains("livenessProbe:\nhttpGet:\npath: /livez\nport: metrics"))
            #expect(text.contains("readinessProbe:\nhttpGet:\npath: /readyz\nport: metrics"))
        }
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String { String(self).trimmingCharacters(in: set) }
}
