package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import adept.parallel.Backend;
import adept.parallel.ProcessGroup;
import adept.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PyTorch's own launcher: torchrun starts two `adept train` ranks (its agent serves the rendezvous store at
 * MASTER_PORT, so the ranks join it as clients), and they train exactly as `--nproc 2` does. Needs Debian's
 * python3-torch (tools/setup.sh --python); skipped without it.
 */
class TorchrunTest {
    @TempDir
    Path dir;

    static final Path PYTHON = Path.of("/usr/bin/python3");

    static boolean hasTorchrun() throws Exception {
        if (!Files.isExecutable(PYTHON)) return false;
        Process p = new ProcessBuilder(PYTHON.toString(), "-c", "import torch.distributed.run").redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    }

    @Test
    void torchrunsTwoRanksTrainAsNprocTwo() throws Exception {
        Assumptions.assumeTrue(ProcessGroup.available(Backend.GLOO), "the shim was built without Gloo");
        Assumptions.assumeTrue(hasTorchrun(), "no torchrun: /usr/bin/python3 has no torch.distributed (tools/setup.sh --python)");
        TrainSettings launched = DataParallelTest.settings(dir, "adept", "torchrun", 8);
        List<String> command = new ArrayList<>(List.of(PYTHON.toString(), Path.of("tools/dist/torchrun.py").toAbsolutePath().toString(),
                "--nproc_per_node", "2", "--master_port", Integer.toString(adept.testing.Ports.free()), "--no_python"));
        command.addAll(ChildJvm.adept(DataParallelTest.cli(launched)));
        ChildJvm.Outcome o = ChildJvm.run(command, DataParallelTest.ENV, dir.resolve("torchrun.log"), 240);
        assertEquals(0, o.exitCode(), o.output());
        assertTrue(o.output().contains("data parallel: 2 ranks"), o.output());

        TrainSettings nproc = DataParallelTest.settings(dir, "adept", "nproc", 8);
        ChildJvm.Outcome n = DataParallelTest.twoRanks(nproc, dir.resolve("nproc.log"));
        assertEquals(0, n.exitCode(), n.output());
        DataParallelTest.assertSameLosses(DataParallelTest.losses(nproc.output().out()), DataParallelTest.losses(launched.output().out()), 0,
                "torchrun vs --nproc 2");
        assertEquals(0.0, DataParallelTest.maxParameterDifference(nproc.output().out().resolve(RunFolder.MODEL_DIR),
                launched.output().out().resolve(RunFolder.MODEL_DIR)), "the same parameters");
    }
}
