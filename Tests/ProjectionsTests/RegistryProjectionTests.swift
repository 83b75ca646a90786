import EventStore
import Events
import Foundation
import Projections
import Testing

@Suite struct RegistryProjectionTests {
    let gpt = ModelDefinition(
        name: "gpt-4o", provider: "openai", endpoint: "https://api.openai.example/v1",
        secretReference: "env:OPENAI_KEY", environment: .prod)
    let llama = ModelDefinition(
        name: "llama3", provider: "ollama", endpoint: "http://gpu-1:11434/v1", environment: .lab)
    let time = MCPServerDefinition(name: "time", transport: .stdio, command: ["mcp-server-time"])

    func apply(_ events: [DomainEvent]) -> [RegistryState] {
        var state = RegistryProjection.initial
        return events.enumerated().map { i, e in
            RegistryProjection.apply(
                e, context: context(UInt64(i + 1), stream: "registry/models", actor: "user:admin", workspace: nil),
                to: &state)
            return state
        }
    }

    @Test func modelsDefaultsAndOverridesStepByStep() {
        var llamaV2 = llama
        llamaV2.endpoint = "http://gpu-2:11434/v1"
        let states = apply([
            .modelRegistered(ModelRegistered(model: gpt)),  // 1
            .modelRegistered(ModelRegistered(model: llama)),  // 2
            .defaultModelSet(DefaultModelSet(model: "gpt-4o")),  // 3
            .defaultModelSet(DefaultModelSet(workspace: "lab", model: "llama3")),  // 4
            .modelUpdated(ModelUpdated(model: llamaV2)),  // 5
            .defaultModelSet(DefaultModelSet(workspace: "lab", model: "gpt-4o")),  // 6: override replaced
            .defaultModelSet(DefaultModelSet(workspace: "lab", model: nil)),  // 7: override cleared
            .modelRemoved(ModelRemoved(name: "gpt-4o")),  // 8: the default now names a removed model
        ])
        var expected = RegistryState()
        expected.models = ["gpt-4o": Versioned(gpt, seq: 1)]
        #expect(states[0] == expected)
        expected.models["llama3"] = Versioned(llama, seq: 2)
        #expect(states[1] == expected)
        expected.organizationDefault = Versioned("gpt-4o", seq: 3)
        #expect(states[2] == expected)
        expected.workspaceDefaults["lab"] = Versioned("llama3", seq: 4)
        #expect(states[3] == expected)
        #expect(
            states[3].effectiveModel(workspace: "lab")
                == EffectiveModel(
                    name: "llama3", model: llama, source: .workspaceOverride, provenance: [2, 4], problem: nil))
        #expect(
            states[3].effectiveModel(workspace: "ops")
                == EffectiveModel(
                    name: "gpt-4o", model: gpt, source: .organizationDefault, provenance: [1, 3], problem: nil))
        expected.models["llama3"] = Versioned(llamaV2, seq: 5)
        #expect(states[4] == expected)
        #expect(states[4].effectiveModel(workspace: "lab").provenance == [4, 5])
        expected.workspaceDefaults["lab"] = Versioned("gpt-4o", seq: 6)
        #expect(states[5] == expected)
        expected.workspaceDefaults["lab"] = nil
        #expect(states[6] == expected)
        #expect(states[6].effectiveModel(workspace: "lab").source == .organizationDefault)
        expected.models["gpt-4o"] = nil
        #expect(states[7] == expected)
        let broken = states[7].effectiveModel(workspace: "ops")
        #expect(broken.model == nil)
        #expect(broken.name == "gpt-4o")
        #expect(broken.provenance == [3])
        #expect(broken.problem == "the organization default names model 'gpt-4o', which is not registered")
        #expect(
            RegistryState().effectiveModel(workspace: "ops")
                == EffectiveModel(name: nil, model: nil, source: .unset, provenance: [], problem: nil))
    }

    @Test func mcpServersWithFlappingHealthAndAgents() {
        var timeV2 = time
        timeV2.command = ["mcp-server-time", "--local-timezone", "UTC"]
        let agent = AgentDefinition(name: "ops", instructions: "help", model: "gpt-4o", allowedTools: ["time/*"])
        let states = apply([
            .mcpHealthChanged(MCPHealthChanged(name: "time", status: .healthy)),  // 1: unknown server: ignored
            .mcpServerRegistered(MCPServerRegistered(server: time)),  // 2
            .mcpHealthChanged(MCPHealthChanged(name: "time", status: .healthy)),  // 3
            .mcpHealthChanged(MCPHealthChanged(name: "time", status: .unhealthy, detail: "exit 1")),  // 4
            .mcpServerUpdated(MCPServerUpdated(server: timeV2)),  // 5: keeps health
            .mcpHealthChanged(MCPHealthChanged(name: "time", status: .healthy)),  // 6
            .agentDefined(AgentDefined(agent: agent)),  // 7
            .agentRemoved(AgentRemoved(name: "ops")),  // 8
            .mcpServerRemoved(MCPServerRemoved(name: "time")),  // 9
        ])
        #expect(states[0] == RegistryState())
        let t = Int64(1_767_225_600_000_000_000)
        var expected = RegistryState()
        expected.mcpServers["time"] = MCPServerEntry(definition: Versioned(time, seq: 2), health: nil)
        #expect(states[1] == expected)
        expected.mcpServers["time"]!.health = HealthRecord(
            status: .healthy, detail: nil, checkedAtNanoseconds: t, seq: 3)
        #expect(states[2] == expected)
        expected.mcpServers["time"]!.health = HealthRecord(
            status: .unhealthy, detail: "exit 1", checkedAtNanoseconds: t, seq: 4)
        #expect(states[3] == expected)
        expected.mcpServers["time"]!.definition = Versioned(timeV2, seq: 5)
        #expect(states[4] == expected)
        expected.mcpServers["time"]!.health = HealthRecord(
            status: .healthy, detail: nil, checkedAtNanoseconds: t, seq: 6)
        #expect(states[5] == expected)
        expected.agents["ops"] = Versioned(agent, seq: 7)
        #expect(states[6] == expected)
        expected.agents["ops"] = nil
        #expect(states[7] == expected)
        expected.mcpServers["time"] = nil
        #expect(states[8] == expected)
        #expect(states[8] == RegistryState())
    }
}
