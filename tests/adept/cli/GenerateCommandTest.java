package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.io.checkpoint.Checkpoint;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.Generator;
import adept.nn.Sampler;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.testing.TinyModel;
import adept.testing.TinyModel.Run;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.StringJoiner;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerateCommandTest {
    @TempDir
    static Path temp;

    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModel.write(temp.resolve("tiny"), Architecture.LLAMA, 11);
    }

    /** An independent generation loop: full forward each step, the given sampler, stop after EOS. */
    static long[] reference(Path dir, long[] prompt, int maxNew, Sampler sampler) {
        List<Long> out = new ArrayList<>();
        long[] seq = prompt.clone();
        try (CausalLM m = Checkpoint.load(dir, DType.FLOAT32, Device.CPU); var noGrad = Torch.noGrad()) {
            for (int i = 0; i < maxNew; i++) {
                float[] last;
                try (Scope scope = Scope.open()) {
                    Tensor logits = m.forward(Tensor.of(seq, 1, seq.length), null);
                    float[] all = logits.toFloatArray();
                    int vocab = TinyModel.VOCAB;
                    last = Arrays.copyOfRange(all, (seq.length - 1) * vocab, seq.length * vocab);
                }
                long next = sampler != null ? sampler.next(last) : argmax(last);
                out.add(next);
                seq = Arrays.copyOf(seq, seq.length + 1);
                seq[seq.length - 1] = next;
                if (next == TinyModel.EOS) break;
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /** The text of ids as the word-level tokenizer decodes it: words joined by spaces, special tokens left out. */
    static String words(long[] ids) {
        StringJoiner j = new StringJoiner(" ");
        for (long id : ids) if (id >= 4) j.add(TinyModel.WORDS.get((int) id - 4));
        return j.toString();
    }

    @Test
    void greedyIsDeterministicAndMatchesAnIndependentLoop() {
        Run first = adept("generate", "--model", model.toString(), "--prompt", "the cat sat", "--max-new-tokens", "12");
        assertEquals(0, first.exit(), first.err());
        Run second = adept("generate", "--model", model.toString(), "--prompt", "the cat sat", "--max-new-tokens", "12");
        assertEquals(first.out(), second.out());

        long[] expected = reference(model, TinyModel.idsWithBos("the cat sat"), 12, null);
        assertEquals(words(expected), first.out().strip());
        assertTrue(first.out().startsWith(" ") || expected.length == 0 || words(expected).isEmpty(),
                "the continuation is spaced from the prompt: '" + first.out() + "'");
        assertTrue(first.err().contains(expected.length + " tokens in ") && first.err().contains("tokens/s"), first.err());
    }

    @Test
    void noBosLeavesOutTheBosToken() {
        Run run = adept("generate", "--model", model.toString(), "--prompt", "a dog ran", "--max-new-tokens", "8", "--no-bos");
        assertEquals(0, run.exit(), run.err());
        long[] expected = reference(model, new long[] {TinyModel.id("a"), TinyModel.id("dog"), TinyModel.id("ran")}, 8, null);
        assertEquals(words(expected), run.out().strip());
    }

    @Test
    void samplingWithASeedIsReproducible() {
        String[] args = {"generate", "--model", model.toString(), "--prompt", "hello world", "--max-new-tokens", "16",
                "--temperature", "1.5", "--top-p", "0.9", "--seed", "42"};
        Run first = adept(args);
        assertEquals(0, first.exit(), first.err());
        assertEquals(first.out(), adept(args).out());
        long[] expected = reference(model, TinyModel.idsWithBos("hello world"), 16, new Sampler(1.5, 0.9, 42));
        assertEquals(words(expected), first.out().strip());

        // Other seeds give other text (16 tokens from ~30 plausible ones: a collision of all is practically impossible).
        boolean differs = false;
        for (String seed : new String[] {"1", "2", "3"}) {
            String[] other = args.clone();
            other[other.length - 1] = seed;
            differs |= !adept(other).out().equals(first.out());
        }
        assertTrue(differs);
    }

    @Test
    void stopsAtEos(@TempDir Path dir) throws IOException {
        // Dimension 0 of the residual stream is large and positive for every token, and only EOS's head row reads it.
        Path eosModel = TinyModel.write(dir.resolve("eos"), Architecture.LLAMA, 3, m -> {
            m.namedParameters().get("model.embed_tokens.weight").narrow(1, 0, 1).fill(100);
            Tensor head = m.namedParameters().get("lm_head.weight");
            head.narrow(1, 0, 1).fill(0);
            head.select(0, TinyModel.EOS).narrow(0, 0, 1).fill(10);
        });
        Run run = adept("generate", "--model", eosModel.toString(), "--prompt", "the dog", "--max-new-tokens", "20");
        assertEquals(0, run.exit(), run.err());
        assertEquals("", run.out().strip(), "EOS is not printed");
        assertTrue(run.err().contains("1 tokens in ") && run.err().contains("stopped at EOS"), run.err());
    }

    @Test
    void generatorStopsAfterTheStopToken() {
        long[] prompt = TinyModel.idsWithBos("she saw a");
        long[] greedy = reference(model, prompt, 6, null);
        try (CausalLM m = Checkpoint.load(model, DType.FLOAT32, Device.CPU)) {
            long[] all = new Generator(m).generate(prompt, 6, Sampler.greedy(), null, null);
            assertArrayEquals(greedy, Arrays.copyOf(all, greedy.length));
            long stopAt = all[2];
            int first = 0;
            while (all[first] != stopAt) first++;
            long[] stopped = new Generator(m).generate(prompt, 6, Sampler.greedy(), t -> t == stopAt, null);
            assertArrayEquals(Arrays.copyOf(all, first + 1), stopped);
        }
    }

    @Test
    void zeroNewTokensPrintsNothing() {
        Run run = adept("generate", "--model", model.toString(), "--prompt", "the", "--max-new-tokens", "0");
        assertEquals(0, run.exit(), run.err());
        assertEquals("", run.out());
        assertTrue(run.err().contains("0 tokens in "), run.err());
    }

    @Test
    void cudaMatchesCpu() {
        TinyModel.assumeCuda();
        String[] args = {"generate", "--model", model.toString(), "--prompt", "the cat sat", "--max-new-tokens", "12"};
        Run cpu = adept(args);
        String[] onCuda = java.util.Arrays.copyOf(args, args.length + 2);
        onCuda[args.length] = "--device";
        onCuda[args.length + 1] = "cuda";
        Run cuda = adept(onCuda);
        assertEquals(0, cuda.exit(), cuda.err());
        assertEquals(cpu.out(), cuda.out());
        String[] sampled = java.util.Arrays.copyOf(onCuda, onCuda.length + 6);
        System.arraycopy(new String[] {"--temperature", "0.7", "--top-p", "0.95", "--seed", "3"}, 0, sampled, onCuda.length, 6);
        Run first = adept(sampled);
        assertEquals(0, first.exit(), first.err());
        assertEquals(first.out(), adept(sampled).out());
    }

    @Test
    void badOptionsAreCleanErrors() {
        adept("generate", "--model", model.toString(), "--prompt", "the", "--top-p", "0").assertUsageError("--top-p must be in (0, 1]");
        adept("generate", "--model", model.toString(), "--prompt", "the", "--temperature", "-1").assertUsageError("--temperature");
        adept("generate", "--model", model.toString(), "--prompt", "  ", "--no-bos").assertUsageError("the prompt has no tokens");
        adept("generate", "--model", temp.resolve("nothing").toString(), "--prompt", "the").assertUserError(temp.resolve("nothing").toString());
    }
}
