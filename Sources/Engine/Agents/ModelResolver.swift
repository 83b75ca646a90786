import EventStore
import Events
import Foundation
import Projections

/// Which model a run uses and why.
public struct ResolvedModel: Sendable, Equatable {
    public enum Source: String, Sendable {
        case agent, workspaceOverride, organizationDefault, environment
        /// The caller named it for this turn (`ChatTurn.model`).
        case chosen
    }
    public var definition: ModelDefinition
    public var source: Source
    /// Seqs of the registry events that decided it (empty for the environment fallback).
    public var provenance: [Seq]
}

/// Model resolution: the agent's own model, else the workspace override, else the org default (registry), else the
/// environment — the LAB fallback: `LOGBOOK_LLM_BASE_URL`, `LOGBOOK_LLM_MODEL` and, optionally, `LOGBOOK_LLM_API_KEY`
/// (read as the secret reference `env:LOGBOOK_LLM_API_KEY`, never copied).
public struct ModelResolver: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) { self.environment = environment }

    /// - Throws: `EngineError.noModel` naming what to configure.
    public func resolve(
        registry: RegistryState, workspace: String, agent: AgentDefinition?
    ) throws(EngineError) -> ResolvedModel {
        if let name = agent?.model {
            guard let model = registry.models[name] else {
                throw EngineError(.noModel, "agent '\(agent!.name)' uses model '\(name)', which is not registered")
            }
            return ResolvedModel(definition: model.value, source: .agent, provenance: [model.seq])
        }
        let effective = registry.effectiveModel(workspace: workspace)
        if let problem = effective.problem { throw EngineError(.noModel, problem) }
        if let model = effective.model {
            return ResolvedModel(
                definition: model,
                source: effective.source == .workspaceOverride ? .workspaceOverride : .organizationDefault,
                provenance: effective.provenance)
        }
        guard let base = environment["LOGBOOK_LLM_BASE_URL"], !base.isEmpty,
            let name = environment["LOGBOOK_LLM_MODEL"], !name.isEmpty
        else {
            throw EngineError(
                .noModel,
                "no model for workspace '\(workspace)': register one and set the org default, or set LOGBOOK_LLM_BASE_URL and LOGBOOK_LLM_MODEL"
            )
        }
        let secret = environment["LOGBOOK_LLM_API_KEY"].map { _ in "env:LOGBOOK_LLM_API_KEY" }
        return ResolvedModel(
            definition: ModelDefinition(
                name: name, provider: "openai-compatible", endpoint: base, secretReference: secret, environment: .lab),
            source: .environment, provenance: [])
    }
}
