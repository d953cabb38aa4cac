// tests/deploy/k8s/validate.js: checks the rendered deploy/k8s manifests.
// Usage: node validate.js rendered.yaml (the output of kubectl kustomize).
// Every object is validated by kubernetes-models' JSON schema (types,
// required fields, enums; unknown fields are not caught), an object of a
// kind this script does not know fails, and the properties the deployment
// depends on are asserted one by one. Prints one line per check.
"use strict";

const fs = require("fs");
const YAML = require("yaml");
const { ConfigMap, Secret, Service } = require("kubernetes-models/v1");
const { StatefulSet } = require("kubernetes-models/apps/v1");
const { PodDisruptionBudget } = require("kubernetes-models/policy/v1");

const MODELS = {
    "v1/ConfigMap": ConfigMap,
    "v1/Secret": Secret,
    "v1/Service": Service,
    "apps/v1/StatefulSet": StatefulSet,
    "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};

let failures = 0;
function check(cond, what) {
    console.log((cond ? "ok   " : "FAIL ") + what);
    if (!cond) failures++;
}

const docs = YAML.parseAllDocuments(fs.readFileSync(process.argv[2], "utf8"));
const objects = [];
for (const doc of docs) {
    if (doc.errors.length) {
        check(false, "YAML parses: " + doc.errors.map((e) => e.message).join("; "));
        continue;
    }
    const o = doc.toJS();
    if (o !== null) objects.push(o);
}
check(objects.length > 0, "the rendering holds objects (" + objects.length + ")");

for (const o of objects) {
    const key = o.apiVersion + "/" + o.kind;
    const name = key + " " + (o.metadata && o.metadata.name);
    const Model = MODELS[key];
    if (!Model) {
        check(false, name + ": no kubernetes-models class known for " + key);
        continue;
    }
    try {
        new Model(o).validate();
        check(true, name + ": kubernetes-models validate()");
    } catch (e) {
        check(false, name + ": kubernetes-models validate(): " + e.message);
    }
}

function one(kind, pred, what) {
    const found = objects.filter((o) => o.kind === kind && (!pred || pred(o)));
    check(found.length === 1, "exactly one " + kind + (what ? " " + what : "") + " (" + found.length + ")");
    return found[0] || {};
}

const get = (o, path, dflt) => path.split(".").reduce((v, k) => (v == null ? v : v[k]), o) ?? dflt;

const sts = one("StatefulSet");
const pod = get(sts, "spec.template.spec", {});
const ctr = (pod.containers || [])[0] || {};
const podLabels = get(sts, "spec.template.metadata.labels", {});
const matches = (sel) => Object.keys(sel || {}).length > 0 &&
    Object.entries(sel).every(([k, v]) => podLabels[k] === v);
const cm = one("ConfigMap");
const secret = one("Secret");
const headless = one("Service", (s) => get(s, "spec.clusterIP") === "None", "headless");
const client = one("Service", (s) => get(s, "spec.clusterIP") !== "None", "for clients");
const pdb = one("PodDisruptionBudget");

// The StatefulSet
check((pod.containers || []).length === 1, "one container in the pod");
check(get(sts, "spec.serviceName") === get(headless, "metadata.name"), "serviceName is the headless Service");
check(matches(get(sts, "spec.selector.matchLabels")), "the StatefulSet selector matches its pod labels");
check(get(sts, "spec.replicas", 1) >= 3, "at least 3 replicas (a 2-node cluster cannot remove a dead member)");
check(get(sts, "spec.podManagementPolicy", "OrderedReady") === "OrderedReady", "pods start in order (pod 0 founds first)");
check(/\bringcache\b/.test(ctr.image || ""), "the container runs the ringcache image (" + ctr.image + ")");
const cmdline = (ctr.command || []).concat(ctr.args || []).join(" ");
check(cmdline === "/bin/sh /etc/ringcache/start.sh", "the container runs start.sh (" + cmdline + ")");
const probe = (p) => get(ctr, p + ".exec.command", []).join(" ");
check(probe("readinessProbe") === "/usr/bin/ringcached --probe ready 127.0.0.1:6379", "readiness = ringcached --probe ready");
check(probe("livenessProbe") === "/usr/bin/ringcached --probe live 127.0.0.1:6379", "liveness = ringcached --probe live");
check(probe("startupProbe") === "/usr/bin/ringcached --probe live 127.0.0.1:6379", "startup = ringcached --probe live");
const ports = Object.fromEntries((ctr.ports || []).map((p) => [p.name, p.containerPort]));
check(ports.client === 6379 && ports.bus === 16379, "container ports client 6379, bus 16379");

// Configuration: the file start.sh reads, the leave timeout, maxmemory.
const conf = get(cm, "data", {})["ringcached.conf"] || "";
const start = get(cm, "data", {})["start.sh"] || "";
const confval = (name) => {
    const m = conf.match(new RegExp("^\\s*" + name + "\\s+(\\S+)\\s*$", "mi"));
    return m ? m[1] : undefined;
};
check(conf.length > 0 && start.length > 0, "the ConfigMap holds ringcached.conf and start.sh");
const mounts = Object.fromEntries((ctr.volumeMounts || []).map((m) => [m.name, m]));
const vols = Object.fromEntries((pod.volumes || []).map((v) => [v.name, v]));
check(get(mounts, "config.mountPath") === "/etc/ringcache" &&
      get(vols, "config.configMap.name") === get(cm, "metadata.name"),
      "the ConfigMap is mounted at /etc/ringcache");
check(get(mounts, "data.mountPath") === "/var/lib/ringcache" && confval("dir") === "/var/lib/ringcache",
      "dir /var/lib/ringcache is a writable volume");
const leaveMs = Number(confval("cluster-leave-timeout") ?? 60000);
const preStop = get(ctr, "lifecycle.preStop.exec.command", []);
const preStopS = preStop[0] === "/bin/sleep" ? Number(preStop[1]) : 0;
const grace = get(pod, "terminationGracePeriodSeconds", 30);
check(preStop.length > 0, "a preStop hook (" + preStop.join(" ") + ")");
check(grace * 1000 > leaveMs + preStopS * 1000 + 10000,
      "terminationGracePeriodSeconds " + grace + " s > preStop " + preStopS + " s + cluster-leave-timeout " +
      leaveMs / 1000 + " s + 10 s");
const memLimit = get(ctr, "resources.limits.memory", "");
const toBytes = (s) => {
    const m = String(s).match(/^(\d+)(Ki|Mi|Gi|kb|mb|gb|k|m|g)?$/);
    const mul = { Ki: 1024, Mi: 1 << 20, Gi: 1 << 30, kb: 1024, mb: 1 << 20, gb: 1 << 30, k: 1e3, m: 1e6, g: 1e9 };
    return m ? Number(m[1]) * (m[2] ? mul[m[2]] : 1) : NaN;
};
const maxmem = toBytes(confval("maxmemory") || "0");
check(maxmem > 0 && maxmem <= 0.8 * toBytes(memLimit),
      "maxmemory " + confval("maxmemory") + " is at most 80 % of the memory limit " + memLimit);
check(get(ctr, "resources.requests.memory") === memLimit, "memory request = limit (no overcommit of a cache)");
check(get(ctr, "resources.requests.cpu") !== undefined, "a CPU request");

// Security
const psc = pod.securityContext || {};
const csc = ctr.securityContext || {};
check(psc.runAsNonRoot === true && csc.runAsNonRoot === true, "runAsNonRoot");
check(psc.runAsUser === 10001 && psc.runAsGroup === 10001 && psc.fsGroup === 10001, "uid/gid/fsGroup 10001");
check(csc.readOnlyRootFilesystem === true, "readOnlyRootFilesystem");
check(csc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation false");
check(JSON.stringify(get(csc, "capabilities.drop")) === '["ALL"]', "every capability dropped");
check(get(psc, "seccompProfile.type") === "RuntimeDefault" && get(csc, "seccompProfile.type") === "RuntimeDefault",
      "seccomp RuntimeDefault");
check(pod.automountServiceAccountToken === false, "no service account token");
check(confval("protected-mode") === "yes", "protected-mode yes");
check(/^requirepass \$pass$/m.test(start) && /^cluster-secret \$secret$/m.test(start),
      "start.sh sets requirepass and cluster-secret");
check(/check_secret cluster-secret/.test(start) && /check_secret requirepass/.test(start) &&
      /change-me\)/.test(start), "start.sh refuses the placeholder secrets");
check(/exec "\$bin" - <<CONF/.test(start), "start.sh passes the configuration on stdin, not on the command line");

// The Secret is referenced: the cluster secret as a file, requirepass as the
// probes' RINGCACHE_PASSWORD.
const sname = get(secret, "metadata.name");
const skeys = Object.keys(Object.assign({}, secret.data, secret.stringData));
check(skeys.includes("cluster-secret") && skeys.includes("requirepass"), "the Secret holds cluster-secret and requirepass");
check(get(vols, "secret.secret.secretName") === sname && get(mounts, "secret.mountPath") === "/run/secrets/ringcache" &&
      (get(vols, "secret.secret.items", []) || []).some((i) => i.key === "cluster-secret" && i.path === "cluster-secret"),
      "the Secret's cluster-secret is mounted at /run/secrets/ringcache/cluster-secret");
check((get(vols, "secret.secret.defaultMode", 0o644) & 0o007) === 0, "the secret file is not world-readable");
const envs = Object.fromEntries((ctr.env || []).map((e) => [e.name, e]));
check(get(envs, "RINGCACHE_PASSWORD.valueFrom.secretKeyRef.name") === sname &&
      get(envs, "RINGCACHE_PASSWORD.valueFrom.secretKeyRef.key") === "requirepass",
      "RINGCACHE_PASSWORD comes from the Secret's requirepass");
check(get(envs, "POD_IP.valueFrom.fieldRef.fieldPath") === "status.podIP" &&
      get(envs, "POD_NAMESPACE.valueFrom.fieldRef.fieldPath") === "metadata.namespace" &&
      get(envs, "POD_NAME.valueFrom.fieldRef.fieldPath") === "metadata.name", "downward API: pod IP, name, namespace");

// Services
check(get(headless, "spec.publishNotReadyAddresses") === true,
      "the headless Service publishes not-ready pods (they find each other during bootstrap)");
check(new RegExp("svc=\\$\\{RINGCACHE_SERVICE:-" + get(headless, "metadata.name") + "\\}").test(start),
      "start.sh looks peers up under the headless Service's name");
const sports = (s) => Object.fromEntries((get(s, "spec.ports", []) || []).map((p) => [p.name, p.port]));
check(sports(headless).client === 6379 && sports(headless).bus === 16379, "headless Service: client and bus ports");
check(sports(client).client === 6379 && !("bus" in sports(client)), "client Service: the client port only");
check(matches(get(headless, "spec.selector")) && matches(get(client, "spec.selector")), "both Services select the pods");

// Disruptions and placement
check(get(pdb, "spec.maxUnavailable") === 1, "PodDisruptionBudget maxUnavailable 1");
check(matches(get(pdb, "spec.selector.matchLabels")), "the PodDisruptionBudget selects the pods");
const anti = get(pod, "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution", []) || [];
check(anti.some((t) => get(t, "podAffinityTerm.topologyKey") === "kubernetes.io/hostname" &&
                      matches(get(t, "podAffinityTerm.labelSelector.matchLabels"))),
      "preferred anti-affinity on the host name");

console.log(failures === 0 ? "all checks passed" : failures + " check(s) failed");
process.exit(failures === 0 ? 0 : 1);
