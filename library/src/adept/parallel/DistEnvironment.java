package adept.parallel;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * Where this process stands in a distributed run, from torchrun's variables: RANK, WORLD_SIZE, LOCAL_RANK
 * (optional, default 0: picks the CUDA device), MASTER_ADDR, MASTER_PORT (rank 0 serves the rendezvous
 * store there). adept's own: ADEPT_DIST_TIMEOUT (seconds for the rendezvous and for each collective,
 * default 300), ADEPT_DIST_BACKEND (gloo or nccl; default by device). GLOO_SOCKET_IFNAME picks Gloo's
 * network interface, as in PyTorch. Under torchrun (TORCHELASTIC_USE_AGENT_STORE=True) its agent already serves
 * the store at MASTER_PORT: every rank joins it as a client, keys under a prefix per restart attempt
 * (TORCHELASTIC_RESTART_COUNT), as PyTorch's own workers do. Every inconsistency is a one-line {@link DistException}.
 *
 * @param agentStorePrefix present when a launcher serves the store (torchrun): the key prefix this attempt uses
 */
public record DistEnvironment(int rank, int worldSize, int localRank, String masterAddr, int masterPort, Duration timeout,
                              Optional<Backend> backend, Optional<String> networkInterface, Optional<String> agentStorePrefix) {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(300);
    static final String VARIABLES = "torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT";

    public DistEnvironment {
        if (worldSize < 1) throw new DistException("WORLD_SIZE is " + worldSize + ": it must be at least 1");
        if (rank < 0 || rank >= worldSize) {
            throw new DistException("RANK " + rank + " is inconsistent with WORLD_SIZE " + worldSize + " (ranks are 0.." + (worldSize - 1) + ")");
        }
        if (localRank < 0 || localRank > rank) {
            throw new DistException("LOCAL_RANK " + localRank + " is inconsistent with RANK " + rank + " (it must be in 0.." + rank + ")");
        }
        if (masterAddr == null || masterAddr.isBlank()) throw new DistException("MASTER_ADDR is empty");
        if (masterPort < 1 || masterPort > 65535) throw new DistException("MASTER_PORT " + masterPort + " is not a port (1..65535)");
        if (timeout.isNegative() || timeout.isZero()) throw new DistException("ADEPT_DIST_TIMEOUT must be positive");
    }

    /** Rank 0 serves the store (no launcher store). */
    public DistEnvironment(int rank, int worldSize, int localRank, String masterAddr, int masterPort, Duration timeout,
                           Optional<Backend> backend, Optional<String> networkInterface) {
        this(rank, worldSize, localRank, masterAddr, masterPort, timeout, backend, networkInterface, Optional.empty());
    }

    /** A single local process group member (tests, adept train --nproc's children get theirs through the environment). */
    public static DistEnvironment local(int rank, int worldSize, int port, Duration timeout) {
        return new DistEnvironment(rank, worldSize, rank, "127.0.0.1", port, timeout, Optional.empty(), Optional.empty());
    }

    /** The environment of this process. */
    public static Optional<DistEnvironment> current() {
        return fromVariables(System.getenv());
    }

    /** Empty when neither RANK nor WORLD_SIZE is set (a plain single-process run); else the checked environment. */
    public static Optional<DistEnvironment> fromVariables(Map<String, String> env) {
        boolean hasRank = present(env, "RANK");
        boolean hasWorld = present(env, "WORLD_SIZE");
        if (!hasRank && !hasWorld) return Optional.empty();
        if (!hasRank || !hasWorld) {
            throw new DistException((hasRank ? "RANK is set but WORLD_SIZE is not" : "WORLD_SIZE is set but RANK is not") + " (" + VARIABLES + ")");
        }
        int world = integer(env, "WORLD_SIZE");
        int rank = integer(env, "RANK");
        int localRank = present(env, "LOCAL_RANK") ? integer(env, "LOCAL_RANK") : 0;
        for (String name : new String[] {"MASTER_ADDR", "MASTER_PORT"}) {
            if (!present(env, name)) throw new DistException("RANK and WORLD_SIZE are set but " + name + " is not (" + VARIABLES + ")");
        }
        Duration timeout = DEFAULT_TIMEOUT;
        if (present(env, "ADEPT_DIST_TIMEOUT")) {
            String text = env.get("ADEPT_DIST_TIMEOUT").trim();
            double seconds;
            try {
                seconds = Double.parseDouble(text);
            } catch (NumberFormatException e) {
                throw new DistException("ADEPT_DIST_TIMEOUT '" + text + "' is not a number of seconds");
            }
            if (!(seconds > 0) || seconds > 86400 * 7) throw new DistException("ADEPT_DIST_TIMEOUT " + text + " must be in (0, 604800] seconds");
            timeout = Duration.ofMillis(Math.max(1, Math.round(seconds * 1000)));
        }
        Optional<Backend> backend = present(env, "ADEPT_DIST_BACKEND") ? Optional.of(Backend.parse(env.get("ADEPT_DIST_BACKEND"))) : Optional.empty();
        Optional<String> iface = present(env, "GLOO_SOCKET_IFNAME") ? Optional.of(env.get("GLOO_SOCKET_IFNAME").trim()) : Optional.empty();
        Optional<String> agentStore = Optional.empty();
        if (present(env, "TORCHELASTIC_USE_AGENT_STORE") && env.get("TORCHELASTIC_USE_AGENT_STORE").trim().equalsIgnoreCase("true")) {
            int attempt = present(env, "TORCHELASTIC_RESTART_COUNT") ? integer(env, "TORCHELASTIC_RESTART_COUNT") : 0;
            agentStore = Optional.of("/adept/attempt_" + attempt);
        }
        return Optional.of(new DistEnvironment(rank, world, localRank, env.get("MASTER_ADDR").trim(), integer(env, "MASTER_PORT"), timeout,
                backend, iface, agentStore));
    }

    private static boolean present(Map<String, String> env, String name) {
        String v = env.get(name);
        return v != null && !v.isBlank();
    }

    private static int integer(Map<String, String> env, String name) {
        String text = env.get(name).trim();
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new DistException(name + " '" + text + "' is not an integer");
        }
    }

    /**
     * The device this rank trains on: a bare "cuda" becomes cuda:LOCAL_RANK (one GPU per local process, as torchrun
     * runs are laid out); "cpu" and an explicit "cuda:N" stay as given.
     */
    public String deviceFor(String device) {
        return device.trim().equals("cuda") ? "cuda:" + localRank : device;
    }

    /** The variables a child process needs to join as rank r (adept train --nproc). */
    public static Map<String, String> variablesFor(int rank, int worldSize, String masterAddr, int masterPort) {
        return Map.of("RANK", Integer.toString(rank), "WORLD_SIZE", Integer.toString(worldSize), "LOCAL_RANK", Integer.toString(rank),
                "MASTER_ADDR", masterAddr, "MASTER_PORT", Integer.toString(masterPort));
    }
}
