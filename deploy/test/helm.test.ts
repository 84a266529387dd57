import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "kubernetes-models";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { parseDockerfile } from "./dockerfile.ts";
import { type Manifest, renderChart } from "./helm-render.ts";

/**
 * deploy/helm/mtchat, rendered by Go's text/template (helm-render.ts, helm's stand-in here) with its defaults and
 * with the settings a user changes, each rendered manifest validated against the Kubernetes API's JSON schema
 * (kubernetes-models, compiled with ajv), and the references between them checked: what selects what, which port
 * serves what, where each environment variable comes from.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const chartDir = path.join(root, "deploy/helm/mtchat");

type Container = {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  volumes?: { name: string }[];
  serviceAccountName?: string;
};
type Deployment = Manifest & {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
};
type Service = Manifest & {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
};

const models = k8s as unknown as Record<string, Record<string, Record<string, new (data: unknown) => { validate(): void }>>>;
/** The kubernetes-models class of an apiVersion and kind: `apps/v1` → models.apps.v1, `networking.k8s.io/v1` → networkingK8sIo.v1. */
const modelOf = (apiVersion: string, kind: string) => {
  const [group, version] = apiVersion.includes("/") ? (apiVersion.split("/") as [string, string]) : ["", apiVersion];
  const namespace =
    group === ""
      ? (k8s as unknown as Record<string, Record<string, new (data: unknown) => { validate(): void }>>)
      : models[group.replace(/\.([a-z])/g, (_, letter: string) => letter.toUpperCase())];
  return namespace?.[version]?.[kind] as (new (data: unknown) => { validate(): void }) | undefined;
};

const render = (values: Record<string, unknown> = {}, release = "chat") => renderChart(chartDir, { release, values });
const byKind = <T extends Manifest>(manifests: Manifest[], kind: string) => manifests.filter((manifest) => manifest.kind === kind) as T[];
const deploymentsOf = (manifests: Manifest[]) => byKind<Deployment>(manifests, "Deployment");
const rolesOf = (deployment: Deployment) =>
  deployment.spec.template.spec.containers[0]?.env?.find((variable) => variable.name === "ROLES")?.value;
const withRole = (manifests: Manifest[], role: string) => {
  const found = deploymentsOf(manifests).filter((deployment) => rolesOf(deployment) === role);
  expect(found, `Deployments with ROLES=${role}`).toHaveLength(1);
  return found[0] as Deployment;
};
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

/** The checks every rendering must pass, whatever the values. */
const expectConsistent = (manifests: Manifest[]) => {
  const allowed: Record<string, string> = {
    Deployment: "apps/v1",
    Service: "v1",
    ConfigMap: "v1",
    Secret: "v1",
    ServiceAccount: "v1",
    Ingress: "networking.k8s.io/v1",
    HorizontalPodAutoscaler: "autoscaling/v2",
    PodDisruptionBudget: "policy/v1",
  };
  const names = new Set<string>();
  for (const { source, ...manifest } of manifests as (Manifest & { source: string })[]) {
    expect(allowed[manifest.kind], `${source}: ${manifest.kind}`).toBe(manifest.apiVersion);
    const Model = modelOf(manifest.apiVersion, manifest.kind);
    expect(Model, `${manifest.apiVersion} ${manifest.kind}`).toBeDefined();
    // Throws naming the first field the API server would refuse.
    expect(
      () => new (Model as new (data: unknown) => { validate(): void })(manifest).validate(),
      `${source}: ${manifest.metadata.name}`,
    ).not.toThrow();
    expect(manifest.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(manifest.metadata.name.length).toBeLessThanOrEqual(63);
    const key = `${manifest.kind}/${manifest.metadata.name}`;
    expect(names.has(key), `${key} twice`).toBe(false);
    names.add(key);
    expect(manifest.metadata.labels?.["app.kubernetes.io/instance"], key).toBeDefined();
  }

  const configMaps = new Set(byKind(manifests, "ConfigMap").map((manifest) => manifest.metadata.name));
  const secrets = new Map(
    byKind<Manifest & { stringData?: Record<string, string> }>(manifests, "Secret").map((secret) => [
      secret.metadata.name,
      secret.stringData ?? {},
    ]),
  );
  const deployments = deploymentsOf(manifests);
  for (const deployment of deployments) {
    const name = deployment.metadata.name;
    const pod = deployment.spec.template;
    expect(selects(deployment.spec.selector.matchLabels, pod.metadata.labels), `${name}: its selector matches its pods`).toBe(true);
    // No Deployment's selector takes another's pods.
    for (const other of deployments.filter((candidate) => candidate !== deployment)) {
      expect(
        selects(deployment.spec.selector.matchLabels, other.spec.template.metadata.labels),
        `${name} selects ${other.metadata.name}`,
      ).toBe(false);
    }
    expect(pod.spec.securityContext?.runAsNonRoot, name).toBe(true);
    expect(pod.spec.securityContext?.runAsUser, name).not.toBe(0);
    const volumes = new Set((pod.spec.volumes ?? []).map((volume) => volume.name));
    for (const container of pod.spec.containers) {
      const where = `${name}/${container.name}`;
      expect(container.securityContext, where).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(container.resources?.requests?.memory, where).toBeDefined();
      const ports = new Map((container.ports ?? []).map((port) => [port.name, port.containerPort]));
      const env = new Map((container.env ?? []).map((variable) => [variable.name, variable]));
      // The process listens where the probes and the Service look.
      expect(env.get("PORT")?.value, where).toBe(String(ports.get("http")));
      expect(env.get("HOST")?.value, where).toBe("0.0.0.0");
      expect(container.livenessProbe?.httpGet, where).toEqual({ path: "/health", port: "http" });
      expect(container.readinessProbe?.httpGet, where).toEqual({ path: "/health/ready", port: "http" });
      for (const mount of container.volumeMounts ?? []) expect(volumes.has(mount.name), `${where}: volume ${mount.name}`).toBe(true);
      const dataDir = env.get("DATA_DIR")?.value;
      expect(
        (container.volumeMounts ?? []).some((mount) => mount.mountPath === dataDir && dataDir !== undefined),
        where,
      ).toBe(true);
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef)
          expect(configMaps.has(source.configMapRef.name), `${where}: ConfigMap ${source.configMapRef.name}`).toBe(true);
        expect(source.secretRef, where).toBeUndefined();
      }
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (!ref) continue;
        const secret = secrets.get(ref.name);
        // A Secret the chart renders holds every key the pods read; an existing one is the user's to fill.
        if (secret) expect(Object.keys(secret), `${where}: ${ref.name}/${ref.key}`).toContain(ref.key);
      }
    }
  }

  const sync = withRole(manifests, "sync");
  for (const service of byKind<Service>(manifests, "Service")) {
    // The Service sends to the sync pods only: the workers have no API.
    expect(selects(service.spec.selector, sync.spec.template.metadata.labels), service.metadata.name).toBe(true);
    for (const worker of deployments.filter((deployment) => deployment !== sync)) {
      expect(selects(service.spec.selector, worker.spec.template.metadata.labels)).toBe(false);
    }
    const containerPorts = (sync.spec.template.spec.containers[0]?.ports ?? []).map((port) => port.name);
    for (const port of service.spec.ports) expect(containerPorts).toContain(port.targetPort);
  }
  return { sync };
};

describe("deploy/helm/mtchat", () => {
  test("Chart.yaml is a Helm 3 application chart whose appVersion is the image tag, and values.yaml parses", async () => {
    const chart = parse(await readFile(path.join(chartDir, "Chart.yaml"), "utf8")) as Record<string, string>;
    expect(chart).toMatchObject({ apiVersion: "v2", name: "mtchat", type: "application" });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
    const manifests = await render();
    expect(withRole(manifests, "sync").spec.template.spec.containers[0]?.image).toBe(`mtchat:${chart.appVersion}`);
    expect(
      withRole(await render({ image: { repository: "registry.example/mtchat", tag: "1.2.3" } }), "sync").spec.template.spec.containers[0]
        ?.image,
    ).toBe("registry.example/mtchat:1.2.3");
  });

  test("the defaults: a sync Deployment under an HPA, a Deployment per worker role, Service, ConfigMap, Secret; all valid", async () => {
    const manifests = await render();
    const { sync } = expectConsistent(manifests);
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(
      [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
      ].sort(),
    );
    const projections = withRole(manifests, "projections");
    const webhooks = withRole(manifests, "webhooks");
    expect([sync, projections, webhooks].map((deployment) => deployment.metadata.name)).toEqual([
      "chat-mtchat-sync",
      "chat-mtchat-projections",
      "chat-mtchat-webhooks",
    ]);
    // The HPA owns the sync count; a replicas field would fight it on every upgrade.
    expect(sync.spec.replicas).toBeUndefined();
    const [hpa] = byKind<Manifest & { spec: { scaleTargetRef: Record<string, string>; minReplicas: number; maxReplicas: number } }>(
      manifests,
      "HorizontalPodAutoscaler",
    );
    expect(hpa?.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: sync.metadata.name });
    expect(hpa?.spec.minReplicas).toBeLessThanOrEqual(hpa?.spec.maxReplicas ?? 0);
    expect(projections.spec.replicas).toBe(1);
    expect(webhooks.spec.replicas).toBe(1);
    // The image's port, so a pod listens where the Dockerfile says the image does.
    const dockerfile = parseDockerfile(await readFile(path.join(root, "Dockerfile"), "utf8"));
    const exposed = dockerfile.at(-1)?.instructions.find((instruction) => instruction.keyword === "EXPOSE")?.text;
    expect(sync.spec.template.spec.containers[0]?.ports?.[0]?.containerPort).toBe(Number(exposed));
    // Secrets come only from the Secret, never from the ConfigMap.
    const [configMap] = byKind<Manifest & { data: Record<string, string> }>(manifests, "ConfigMap");
    expect(configMap?.data.NODE_ENV).toBe("production");
    for (const key of ["DATABASE_URL", "REDIS_URL", "ADMIN_API_TOKEN", "JWT_SECRET", "S3_SECRET_ACCESS_KEY"])
      expect(configMap?.data).not.toHaveProperty(key);
    const databaseUrl = sync.spec.template.spec.containers[0]?.env?.find((variable) => variable.name === "DATABASE_URL");
    expect(databaseUrl?.valueFrom?.secretKeyRef).toEqual({ name: "chat-mtchat", key: "DATABASE_URL", optional: false });
  });

  test("what a user sets: replica counts per role, no HPA, an existing Secret, an Ingress for WebSockets and long-poll", async () => {
    const secret = "chat-credentials";
    const manifests = await render(
      {
        autoscaling: { enabled: false },
        sync: { replicas: 4 },
        workers: { projections: { replicas: 3 }, webhooks: { replicas: 2 } },
        secrets: { existingSecret: secret },
        config: { PUBLIC_URL: "https://chat.example.com", S3_BUCKET: "chat-files", SEGMENT_SIZE: 250 },
        ingress: {
          enabled: true,
          hosts: [{ host: "chat.example.com", paths: [{ path: "/", pathType: "Prefix" }] }],
          tls: [{ secretName: "chat-tls", hosts: ["chat.example.com"] }],
        },
        persistence: { existingClaim: "chat-files" },
      },
      "mtchat",
    );
    const { sync } = expectConsistent(manifests);
    expect(byKind(manifests, "HorizontalPodAutoscaler")).toEqual([]);
    expect(sync.metadata.name).toBe("mtchat-sync");
    expect(sync.spec.replicas).toBe(4);
    expect(withRole(manifests, "projections").spec.replicas).toBe(3);
    expect(withRole(manifests, "webhooks").spec.replicas).toBe(2);

    // No Secret of the chart's: every pod reads the user's.
    expect(byKind(manifests, "Secret")).toEqual([]);
    for (const deployment of deploymentsOf(manifests)) {
      const refs = (deployment.spec.template.spec.containers[0]?.env ?? []).flatMap((variable) =>
        variable.valueFrom?.secretKeyRef ? [variable.valueFrom.secretKeyRef] : [],
      );
      expect(refs.length).toBeGreaterThan(0);
      for (const ref of refs) expect(ref.name).toBe(secret);
    }
    const [configMap] = byKind<Manifest & { data: Record<string, string> }>(manifests, "ConfigMap");
    expect(configMap?.data).toMatchObject({ PUBLIC_URL: "https://chat.example.com", S3_BUCKET: "chat-files", SEGMENT_SIZE: "250" });
    expect(JSON.stringify(sync.spec.template.spec.volumes)).toContain('"claimName":"chat-files"');

    const [ingress] = byKind<
      Manifest & {
        metadata: { annotations: Record<string, string> };
        spec: {
          ingressClassName: string;
          tls: unknown[];
          rules: {
            host: string;
            http: { paths: { path: string; pathType: string; backend: { service: { name: string; port: { name: string } } } }[] };
          }[];
        };
      }
    >(manifests, "Ingress");
    expect(ingress?.spec.ingressClassName).toBe("nginx");
    expect(ingress?.spec.tls).toEqual([{ secretName: "chat-tls", hosts: ["chat.example.com"] }]);
    const [service] = byKind<Service>(manifests, "Service");
    const paths = ingress?.spec.rules.flatMap((rule) => rule.http.paths) ?? [];
    // One prefix carries the API, the WebSocket and the long-poll routes: each of them goes to the sync Service.
    for (const route of ["/api/v1/ws", "/api/v1/dialogs", "/health/ready"]) {
      const match = paths.find((entry) => entry.pathType === "Prefix" && route.startsWith(entry.path));
      expect(match?.backend.service, route).toEqual({ name: service?.metadata.name, port: { name: service?.spec.ports[0]?.name } });
    }
    // ingress-nginx cuts a connection silent for 60 s by default: chat sockets and long polls need far longer.
    const annotations = ingress?.metadata.annotations ?? {};
    expect(Number(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])).toBeGreaterThanOrEqual(3600);
    expect(Number(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"])).toBeGreaterThanOrEqual(3600);
  });

  test("the template language is Go's own: a Sprig function is refused, and so is a value values.yaml does not have", async () => {
    await expect(render({ config: "not a map" })).rejects.toThrow();
    // What the restriction guards against: helm has toYaml, the stand-in (and the README's rule) does not.
    const { parse: renderGo } = await import("@evertdespiegeleer/go-template");
    await expect(renderGo("{{ toYaml .Values }}", { Values: {} })).rejects.toThrow(/toYaml/);
    await expect(renderGo("{{ .Values.missing }}", { Values: {} })).rejects.toThrow(/missing/);
  });
});
