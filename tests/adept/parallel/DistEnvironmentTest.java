package adept.parallel;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** torchrun's variables: a plain run without them, a checked environment with them, one-line errors for the rest. */
class DistEnvironmentTest {
    static Map<String, String> torchrun(int rank, int world) {
        Map<String, String> env = new HashMap<>(Map.of("RANK", Integer.toString(rank), "WORLD_SIZE", Integer.toString(world),
                "LOCAL_RANK", Integer.toString(rank), "MASTER_ADDR", "10.0.0.7", "MASTER_PORT", "29500"));
        env.put("PATH", "/usr/bin");
        return env;
    }

    static String error(Map<String, String> env) {
        String m = assertThrows(DistException.class, () -> DistEnvironment.fromVariables(env)).getMessage();
        assertFalse(m.contains("\n"), m);
        return m;
    }

    @Test
    void noRankAndNoWorldSizeIsAPlainRun() {
        assertTrue(DistEnvironment.fromVariables(Map.of("MASTER_ADDR", "x", "PATH", "/bin")).isEmpty());
    }

    @Test
    void torchrunsVariablesAreRead() {
        Map<String, String> env = torchrun(3, 4);
        env.put("LOCAL_RANK", "1");
        env.put("ADEPT_DIST_TIMEOUT", "2.5");
        env.put("ADEPT_DIST_BACKEND", "gloo");
        env.put("GLOO_SOCKET_IFNAME", "eth1");
        DistEnvironment e = DistEnvironment.fromVariables(env).orElseThrow();
        assertEquals(3, e.rank());
        assertEquals(4, e.worldSize());
        assertEquals(1, e.localRank());
        assertEquals("10.0.0.7", e.masterAddr());
        assertEquals(29500, e.masterPort());
        assertEquals(Duration.ofMillis(2500), e.timeout());
        assertEquals(Backend.GLOO, e.backend().orElseThrow());
        assertEquals("eth1", e.networkInterface().orElseThrow());
        assertEquals(DistEnvironment.DEFAULT_TIMEOUT, DistEnvironment.fromVariables(torchrun(0, 2)).orElseThrow().timeout());
    }

    @Test
    void torchrunsAgentStoreIsJoinedUnderAnAttemptPrefix() {
        Map<String, String> env = torchrun(1, 2);
        assertTrue(DistEnvironment.fromVariables(env).orElseThrow().agentStorePrefix().isEmpty(), "no agent: rank 0 serves the store");
        env.put("TORCHELASTIC_USE_AGENT_STORE", "True");
        assertEquals("/adept/attempt_0", DistEnvironment.fromVariables(env).orElseThrow().agentStorePrefix().orElseThrow());
        env.put("TORCHELASTIC_RESTART_COUNT", "3");
        assertEquals("/adept/attempt_3", DistEnvironment.fromVariables(env).orElseThrow().agentStorePrefix().orElseThrow());
        env.put("TORCHELASTIC_USE_AGENT_STORE", "False");
        assertTrue(DistEnvironment.fromVariables(env).orElseThrow().agentStorePrefix().isEmpty());
    }

    @Test
    void aBareCudaDeviceIsTheLocalRanksGpu() {
        Map<String, String> env = torchrun(5, 8);
        env.put("LOCAL_RANK", "1");
        DistEnvironment e = DistEnvironment.fromVariables(env).orElseThrow();
        assertEquals("cuda:1", e.deviceFor("cuda"));
        assertEquals("cuda:3", e.deviceFor("cuda:3"), "an explicit index is kept");
        assertEquals("cpu", e.deviceFor("cpu"));
    }

    @Test
    void inconsistentOrMissingVariablesAreOneLineErrors() {
        assertEquals("RANK 2 is inconsistent with WORLD_SIZE 2 (ranks are 0..1)", error(torchrun(2, 2)));
        assertEquals("RANK -1 is inconsistent with WORLD_SIZE 2 (ranks are 0..1)", error(torchrun(-1, 2)));
        assertEquals("WORLD_SIZE is 0: it must be at least 1", error(torchrun(0, 0)));
        Map<String, String> env = torchrun(1, 2);
        env.remove("WORLD_SIZE");
        assertTrue(error(env).startsWith("RANK is set but WORLD_SIZE is not (torchrun sets"), error(env));
        env = torchrun(1, 2);
        env.remove("RANK");
        assertTrue(error(env).startsWith("WORLD_SIZE is set but RANK is not"));
        env = torchrun(1, 2);
        env.remove("MASTER_PORT");
        assertTrue(error(env).startsWith("RANK and WORLD_SIZE are set but MASTER_PORT is not"));
        env = torchrun(1, 2);
        env.put("MASTER_PORT", "70000");
        assertEquals("MASTER_PORT 70000 is not a port (1..65535)", error(env));
        env = torchrun(1, 2);
        env.put("WORLD_SIZE", "two");
        assertEquals("WORLD_SIZE 'two' is not an integer", error(env));
        env = torchrun(1, 2);
        env.put("LOCAL_RANK", "2");
        assertEquals("LOCAL_RANK 2 is inconsistent with RANK 1 (it must be in 0..1)", error(env));
        env = torchrun(1, 2);
        env.put("ADEPT_DIST_TIMEOUT", "-3");
        assertTrue(error(env).startsWith("ADEPT_DIST_TIMEOUT -3 must be in"));
        env = torchrun(1, 2);
        env.put("ADEPT_DIST_BACKEND", "mpi");
        assertEquals("unknown distributed backend 'mpi' (gloo or nccl)", error(env));
    }
}
