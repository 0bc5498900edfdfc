package adept.train;

import adept.tensor.TorchException;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * libtorch's allocation failures during training ("DefaultCPUAllocator: can't allocate memory: you tried to allocate N
 * bytes", "CUDA out of memory. Tried to allocate 2.00 GiB") as one line naming the memory asked for and the settings
 * that size a step, instead of the allocator's text alone.
 */
final class OutOfMemory {
    private static final Pattern CPU = Pattern.compile("can't allocate memory: you tried to allocate (\\d+) bytes");
    private static final Pattern CUDA = Pattern.compile("out of memory\\. Tried to allocate ([0-9.]+ ?[KMGT]?i?B)", Pattern.CASE_INSENSITIVE);

    private OutOfMemory() {}

    /** The explanation of e when it is an allocation failure; empty for any other error. */
    static Optional<TrainException> explain(TorchException e, TrainSettings s, int ranks, int blockSize) {
        String message = String.valueOf(e.getMessage());
        String asked;
        Matcher cpu = CPU.matcher(message);
        Matcher cuda = CUDA.matcher(message);
        if (cpu.find()) {
            long bytes = Long.parseLong(cpu.group(1));
            asked = String.format(Locale.ROOT, "%,d bytes (%.1f GiB)", bytes, bytes / (double) (1L << 30));
        } else if (cuda.find()) {
            asked = cuda.group(1);
        } else {
            return Optional.empty();
        }
        long tokens = (long) s.inputs().batchSize() / Math.max(1, ranks) * blockSize;
        return Optional.of(new TrainException(String.format(Locale.ROOT,
                "out of memory on %s: libtorch could not allocate %s; a micro-batch holds batch_size %d%s x block_size %d = %,d tokens at once: "
                        + "lower --batch-size (batch_size) or --block-size (block_size); --grad-accum keeps the tokens per optimizer step",
                s.hardware().device(), asked, s.inputs().batchSize(), ranks > 1 ? " / " + ranks + " ranks" : "", blockSize, tokens)));
    }
}
