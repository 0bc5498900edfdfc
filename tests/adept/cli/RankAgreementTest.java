package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.testing.ChildJvm;
import adept.testing.Ports;
import adept.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 20, ranks that disagree: ranks started by hand with other settings or data refuse together, in one line naming what differs. */
class RankAgreementTest extends adept.testing.TrainFolder {
    List<String> args(String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--out", dir.resolve("run").toString(),
                "--mode", "full", "--steps", "4", "--block-size", "8", "--batch-size", "2"));
        for (int i = 0; i < extra.length; i += 2) {
            int at = a.indexOf(extra[i]);
            if (at >= 0) a.set(at + 1, extra[i + 1]);
            else a.addAll(Arrays.asList(extra[i], extra[i + 1]));
        }
        return a;
    }

    /** Starts rank 0 and rank 1 with their own arguments; both must fail with a line naming the setting. */
    void assertBothRefuse(List<String> rank0, List<String> rank1, String setting) throws Exception {
        int port = Ports.free();
        Process[] ranks = new Process[2];
        Path[] logs = {dir.resolve("r0.log"), dir.resolve("r1.log")};
        List<List<String>> args = List.of(rank0, rank1);
        for (int r = 0; r < 2; r++) {
            ranks[r] = ChildJvm.start(ChildJvm.adept(args.get(r)), Map.of("RANK", Integer.toString(r), "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1",
                    "MASTER_PORT", Integer.toString(port), "ADEPT_DIST_TIMEOUT", "60"), logs[r]);
        }
        try {
            for (int r = 0; r < 2; r++) {
                assertTrue(ranks[r].waitFor(120, TimeUnit.SECONDS), "rank " + r + " ended");
                String log = Files.readString(logs[r]);
                assertEquals(2, ranks[r].exitValue(), log);
                assertTrue(log.contains("adept: data-parallel ranks disagree on " + setting + " (rank " + r), log);
                assertFalse(log.contains("Exception") || log.contains("terminate called"), log);
            }
        } finally {
            for (Process p : ranks) p.destroyForcibly().waitFor();
        }
        assertFalse(Files.exists(dir.resolve("run/metrics.jsonl")), "no step trained");
    }

    @Test
    void ranksWithAnotherLearningRateRefuse() throws Exception {
        assertBothRefuse(args(), args("--lr", "2e-3"), "lr");
    }

    @Test
    void ranksWithAnotherModeOrDataRefuse() throws Exception {
        assertBothRefuse(args(), args("--mode", "llama-pro", "--k", "1"), "mode");
        Path other = Files.writeString(dir.resolve("other.txt"), "the cat sat on the mat . one plus two equals three .\n".repeat(40));
        assertBothRefuse(args(), args("--data", other.toString()), "data");
    }
}
