"""Every gRPC method's access rule: the resource it acts on and the verb (see `access.py` for
what each role may do, and docs/access.md). A method missing here cannot be reached.
"""

from __future__ import annotations

from libs.core.access import Resource, Rule, Verb


def _system(resource: Resource, verb: Verb) -> Rule:
    return Rule(resource, verb, system=True)


_R, _C, _U, _D, _X = Verb.READ, Verb.CREATE, Verb.UPDATE, Verb.DELETE, Verb.EXECUTE


def _crud(service: str, noun: str, resource: Resource, *, plural: str = "") -> dict[str, Rule]:
    """The five AIP standard methods of `service` on `noun`."""
    prefix = f"/{service}/"
    return {
        f"{prefix}Create{noun}": Rule(resource, _C),
        f"{prefix}Get{noun}": Rule(resource, _R),
        f"{prefix}List{plural or noun + 's'}": Rule(resource, _R),
        f"{prefix}Update{noun}": Rule(resource, _U),
        f"{prefix}Delete{noun}": Rule(resource, _D),
    }


METHODS: dict[str, Rule] = {
    # auth. Envoy's ext_authz calls Check on every request, before anyone is known.
    "/envoy.service.auth.v3.Authorization/Check": Rule(Resource.IDENTITY, _R, public=True),
    "/shipyard.auth.v1.IdentityService/GetCurrentIdentity": Rule(Resource.IDENTITY, _R),
    # Login and refresh carry their own credential (password, refresh token) in the body.
    "/shipyard.auth.v1.AuthenticationService/Login": Rule(Resource.IDENTITY, _C, public=True),
    "/shipyard.auth.v1.AuthenticationService/RefreshToken": Rule(
        Resource.IDENTITY, _C, public=True
    ),
    "/shipyard.auth.v1.AuthenticationService/Logout": Rule(Resource.IDENTITY, _D, public=True),
    "/shipyard.auth.v1.AuthenticationService/ChangePassword": Rule(Resource.IDENTITY, _U),
    **_crud("shipyard.auth.v1.DomainService", "Domain", Resource.DOMAIN),
    **_crud("shipyard.auth.v1.ProjectService", "Project", Resource.PROJECT),
    "/shipyard.auth.v1.ProjectService/AddProjectMember": Rule(Resource.PROJECT, _U),
    "/shipyard.auth.v1.ProjectService/ListProjectMembers": Rule(Resource.PROJECT, _R),
    "/shipyard.auth.v1.ProjectService/RemoveProjectMember": Rule(Resource.PROJECT, _U),
    **_crud("shipyard.auth.v1.UserService", "User", Resource.USER),
    **_crud("shipyard.auth.v1.KeypairService", "Keypair", Resource.KEYPAIR),
    **_crud(
        "shipyard.auth.v1.ResourcePolicyService",
        "ResourcePolicy",
        Resource.RESOURCE_POLICY,
        plural="ResourcePolicies",
    ),
    "/shipyard.auth.v1.ResourceGroupAccessService/GetResourceGroupAccess": Rule(
        Resource.RESOURCE_GROUP_ACCESS, _R
    ),
    "/shipyard.auth.v1.ResourceGroupAccessService/ListResourceGroupAccess": Rule(
        Resource.RESOURCE_GROUP_ACCESS, _R
    ),
    "/shipyard.auth.v1.ResourceGroupAccessService/UpdateResourceGroupAccess": Rule(
        Resource.RESOURCE_GROUP_ACCESS, _U
    ),
    "/shipyard.auth.v1.AuditService/ListAuditEvents": Rule(Resource.AUDIT_LOG, _R),
    "/shipyard.auth.v1.AuditRecordService/RecordAuditEvent": _system(Resource.AUDIT_LOG, _C),
    "/shipyard.auth.v1.PolicyService/ResolveSessionPolicy": _system(Resource.RESOURCE_POLICY, _R),
    "/shipyard.auth.v1.PolicyService/BatchGetLimits": _system(Resource.RESOURCE_POLICY, _R),
    "/shipyard.auth.v1.PolicyService/LookupUsers": _system(Resource.USER, _R),
    # registry
    "/shipyard.registry.v1.SessionService/CreateSession": Rule(Resource.SESSION, _C),
    "/shipyard.registry.v1.SessionService/GetSession": Rule(Resource.SESSION, _R),
    "/shipyard.registry.v1.SessionService/ListSessions": Rule(Resource.SESSION, _R),
    "/shipyard.registry.v1.SessionService/DestroySession": Rule(Resource.SESSION, _D),
    "/shipyard.registry.v1.SessionService/Execute": Rule(Resource.SESSION, _X),
    "/shipyard.registry.v1.TerminalService/OpenTerminal": Rule(Resource.SESSION, _X),
    # The work directory's files are the kernel's: whoever may run code there may use them.
    "/shipyard.registry.v1.SessionFileService/ListSessionFiles": Rule(Resource.SESSION, _X),
    "/shipyard.registry.v1.SessionFileService/DownloadSessionFile": Rule(Resource.SESSION, _X),
    "/shipyard.registry.v1.SessionFileService/UploadSessionFile": Rule(Resource.SESSION, _X),
    "/shipyard.registry.v1.SessionService/GetSessionLogs": Rule(Resource.SESSION, _R),
    "/shipyard.registry.v1.ExecutionService/StreamExecute": Rule(Resource.SESSION, _X),
    "/shipyard.registry.v1.ExecutionService/InterruptExecution": Rule(Resource.SESSION, _X),
    "/shipyard.registry.v1.UserEventService/WatchSessionEvents": Rule(Resource.SESSION, _R),
    "/shipyard.registry.v1.UserEventService/WatchEvents": Rule(Resource.SESSION, _R),
    "/shipyard.registry.v1.SessionControlService/RenameSession": Rule(Resource.SESSION, _U),
    "/shipyard.registry.v1.SessionControlService/RestartSession": Rule(Resource.SESSION, _U),
    # Opening an app runs it in the kernel and lets the browser use it: like Execute.
    "/shipyard.registry.v1.AppService/StartApp": Rule(Resource.SESSION, _X),
    "/shipyard.registry.v1.AppService/ListApps": Rule(Resource.SESSION, _R),
    "/shipyard.registry.v1.ClusterService/ListAgents": Rule(Resource.AGENT, _R),
    "/shipyard.registry.v1.UsageService/GetUsage": Rule(Resource.USAGE, _R),
    "/shipyard.registry.v1.UsageService/GetUsageSeries": Rule(Resource.USAGE, _R),
    # registry: images, container registries, resource groups
    **{
        f"/shipyard.registry.v1.ImageService/{m}": Rule(Resource.IMAGE, v)
        for m, v in (
            ("ListImages", _R),
            ("GetImage", _R),
            ("DeleteImage", _D),
            ("CreateImageAlias", _C),
            ("ListImageAliases", _R),
            ("DeleteImageAlias", _D),
        )
    },
    **{
        f"/shipyard.registry.v1.ContainerRegistryService/{m}": Rule(Resource.CONTAINER_REGISTRY, v)
        for m, v in (
            ("CreateContainerRegistry", _C),
            ("GetContainerRegistry", _R),
            ("ListContainerRegistries", _R),
            ("UpdateContainerRegistry", _U),
            ("DeleteContainerRegistry", _D),
            ("RescanContainerRegistry", _U),
            ("GetRescanTask", _R),
        )
    },
    "/shipyard.registry.v1.RescanTaskService/WatchRescanTask": Rule(
        Resource.CONTAINER_REGISTRY, _R
    ),
    **{
        f"/shipyard.registry.v1.ResourceGroupService/{m}": Rule(Resource.RESOURCE_GROUP, v)
        for m, v in (
            ("CreateResourceGroup", _C),
            ("GetResourceGroup", _R),
            ("ListResourceGroups", _R),
            ("UpdateResourceGroup", _U),
            ("DeleteResourceGroup", _D),
        )
    },
    **_crud(
        "shipyard.registry.v1.SessionTemplateService", "SessionTemplate", Resource.SESSION_TEMPLATE
    ),
    **{
        f"/shipyard.registry.v1.ResourcePresetService/{m}": Rule(Resource.RESOURCE_PRESET, v)
        for m, v in (
            ("CreateResourcePreset", _C),
            ("ListResourcePresets", _R),
            ("UpdateResourcePreset", _U),
            ("DeleteResourcePreset", _D),
            ("CheckResourcePresets", _R),
        )
    },
    "/shipyard.registry.v1.EventAdminService/ListDeadLetters": Rule(Resource.DEAD_LETTER, _R),
    "/shipyard.registry.v1.EventAdminService/ReplayDeadLetters": Rule(Resource.DEAD_LETTER, _U),
    "/shipyard.registry.v1.AgentRegistryService/RegisterAgent": _system(Resource.AGENT, _C),
    "/shipyard.registry.v1.AgentRegistryService/Heartbeat": _system(Resource.AGENT, _U),
    "/shipyard.registry.v1.AgentRegistryService/HeartbeatBatch": _system(Resource.AGENT, _U),
    "/shipyard.registry.v1.AgentRegistryService/DrainAgent": _system(Resource.AGENT, _U),
    "/shipyard.registry.v1.SchedulingService/WatchClusterState": _system(Resource.SESSION, _R),
    "/shipyard.registry.v1.SchedulingService/CancelPendingSessions": _system(Resource.SESSION, _U),
    "/shipyard.registry.v1.SchedulingService/PreemptSessions": _system(Resource.SESSION, _U),
    "/shipyard.registry.v1.SchedulingService/BindSessions": _system(Resource.SESSION, _U),
    "/shipyard.registry.v1.MountUsageService/ListMountedVFolders": _system(Resource.VFOLDER, _R),
    "/shipyard.registry.v1.SessionAdminService/TerminateSessionsOfOwners": _system(
        Resource.SESSION, _D
    ),
    # scheduler
    "/shipyard.scheduler.v1.SchedulerService/ListPendingSessions": Rule(
        Resource.SCHEDULER_QUEUE, _R
    ),
    # storage
    "/shipyard.storage.v1.VFolderService/CreateVFolder": Rule(Resource.VFOLDER, _C),
    "/shipyard.storage.v1.VFolderService/ListVFolders": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.VFolderService/DeleteVFolder": Rule(Resource.VFOLDER, _D),
    "/shipyard.storage.v1.VFolderService/UpdateVFolder": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.VFolderService/RestoreVFolder": Rule(Resource.VFOLDER, _D),
    "/shipyard.storage.v1.VFolderService/ListVolumes": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.VFolderService/GetVFolderUsage": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.VFolderService/GetQuotaScope": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.VFolderService/CloneVFolder": Rule(Resource.VFOLDER, _C),
    "/shipyard.storage.v1.VFolderService/GetVFolderTask": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.VFolderTaskService/WatchVFolderTask": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.VFolderService/SetQuotaScope": Rule(Resource.QUOTA_SCOPE, _U),
    "/shipyard.storage.v1.MountService/ResolveMounts": _system(Resource.VFOLDER, _R),
    # Files inside a folder: reading them is reading the folder, changing them updating it.
    "/shipyard.storage.v1.FileService/ListFiles": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.FileService/FetchFile": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.FileService/MakeDirectory": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.FileService/MoveFile": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.FileService/DeleteFiles": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.FileService/Upload": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.FileService/Download": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.FileService/GetUploadOffset": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.FileService/CreateUploadSession": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.FileService/CreateDownloadToken": Rule(Resource.VFOLDER, _R),
    # Sharing: the use cases decide who (owner, invitee, inviter, admins); any user may ask.
    "/shipyard.storage.v1.VFolderSharingService/InviteToVFolder": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.VFolderSharingService/ListVFolderInvitations": Rule(Resource.VFOLDER, _R),
    "/shipyard.storage.v1.VFolderSharingService/AcceptVFolderInvitation": Rule(
        Resource.VFOLDER, _U
    ),
    "/shipyard.storage.v1.VFolderSharingService/RejectVFolderInvitation": Rule(
        Resource.VFOLDER, _U
    ),
    "/shipyard.storage.v1.VFolderSharingService/CancelVFolderInvitation": Rule(
        Resource.VFOLDER, _U
    ),
    "/shipyard.storage.v1.VFolderSharingService/ShareVFolder": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.VFolderSharingService/UnshareVFolder": Rule(Resource.VFOLDER, _U),
    "/shipyard.storage.v1.VFolderSharingService/LeaveVFolder": Rule(Resource.VFOLDER, _U),
    # agent
    "/shipyard.agent.v1.KernelService/CreateKernels": _system(Resource.SESSION, _C),
    "/shipyard.agent.v1.KernelService/DestroyKernel": _system(Resource.SESSION, _D),
    "/shipyard.agent.v1.KernelService/Execute": _system(Resource.SESSION, _X),
    "/shipyard.agent.v1.KernelService/RestartKernel": _system(Resource.SESSION, _U),
    "/shipyard.agent.v1.KernelTerminalService/OpenKernelTerminal": _system(Resource.SESSION, _X),
    "/shipyard.agent.v1.KernelService/ListKernels": _system(Resource.SESSION, _R),
    "/shipyard.agent.v1.KernelService/GetKernelLogs": _system(Resource.SESSION, _R),
    "/shipyard.agent.v1.KernelService/PrepareClusterNetwork": _system(Resource.SESSION, _C),
    "/shipyard.agent.v1.KernelExecutionService/StreamExecute": _system(Resource.SESSION, _X),
    "/shipyard.agent.v1.KernelExecutionService/InterruptExecution": _system(Resource.SESSION, _X),
    "/shipyard.agent.v1.KernelAppService/StartKernelApp": _system(Resource.SESSION, _X),
    "/shipyard.agent.v1.KernelFileService/ListKernelFiles": _system(Resource.SESSION, _X),
    "/shipyard.agent.v1.KernelFileService/ReadKernelFile": _system(Resource.SESSION, _X),
    "/shipyard.agent.v1.KernelFileService/WriteKernelFile": _system(Resource.SESSION, _X),
    # gateway (the edge's own control plane)
    "/shipyard.gateway.v1.EdgeRouteService/AddRoute": _system(Resource.EDGE_ROUTE, _C),
    "/shipyard.gateway.v1.EdgeRouteService/RemoveRoute": _system(Resource.EDGE_ROUTE, _D),
    "/shipyard.gateway.v1.EdgeAppService/OpenApp": _system(Resource.EDGE_ROUTE, _C),
    "/shipyard.gateway.v1.EdgeAppService/CloseSessionApps": _system(Resource.EDGE_ROUTE, _D),
}


def rule_for(method: str) -> Rule | None:
    return METHODS.get(method)
