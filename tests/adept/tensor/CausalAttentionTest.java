package adept.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The blocked causal attention kernel (native/adept_attention.cpp) against libtorch's decomposed attention
 * (matmul, causal mask, softmax, matmul, key/value heads expanded for grouped queries): output and the gradients
 * of q, k and v as close to float64's as libtorch's own float32 attention, on lengths across and inside the row blocks.
 */
class CausalAttentionTest {
    private static final double TOLERANCE = 1e-6;

    @BeforeAll
    static void needsBlas() {
        assumeTrue(Tensor.causalAttentionAvailable(), "this libtorch's BLAS is not OpenBLAS: the decomposed attention runs instead");
    }

    private static void assertClose(Tensor expected, Tensor actual, String what) {
        assertEquals(Arrays.toString(expected.shape()), Arrays.toString(actual.shape()), what + " shape");
        double scale = expected.abs().max().item();
        double diff = expected.sub(actual).abs().max().item();
        assertTrue(diff <= TOLERANCE * Math.max(scale, 1e-30), what + ": max |diff| " + diff + " against max |value| " + scale);
    }

    /** The decomposed reference: [B, T, H * D] from q [B, H, T, D], k / v [B, G, T, D]. */
    private static Tensor reference(Tensor q, Tensor k, Tensor v, double scale) {
        return reference(q, k, v, null, scale);
    }

    /**
     * As above for right padding (lengths[b] tokens, null: none), masked as Hugging Face's eager attention masks a
     * padded batch: key j hidden from query i where j > i or j is padding, added as the dtype's lowest value.
     */
    private static Tensor reference(Tensor q, Tensor k, Tensor v, long[] lengths, double scale) {
        long b = q.size(0), heads = q.size(1), t = q.size(2), d = q.size(3), groups = k.size(1);
        Tensor ke = k.unsqueeze(2).expand(b, groups, heads / groups, t, d).reshape(b, heads, t, d);
        Tensor ve = v.unsqueeze(2).expand(b, groups, heads / groups, t, d).reshape(b, heads, t, d);
        if (lengths == null) return Tensor.scaledDotProductAttention(q, ke, ve, null, true, scale).transpose(1, 2).reshape(b, t, heads * d);
        double lowest = q.dtype() == DType.FLOAT64 ? -Double.MAX_VALUE : -Float.MAX_VALUE;
        double[] mask = new double[Math.toIntExact(b * t * t)];
        for (int s = 0; s < b; s++)
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++) mask[(int) ((s * t + i) * t + j)] = j > i || j >= lengths[s] ? lowest : 0;
        Tensor additive = Tensor.of(mask, b, 1, t, t).to(q.dtype());
        return Tensor.scaledDotProductAttention(q, ke, ve, additive, false, scale).transpose(1, 2).reshape(b, t, heads * d);
    }

    /** Leaves shaped [B, T, heads, D] (the projections' layout), and the [B, heads, T, D] views attention reads. */
    private record Inputs(Tensor qLeaf, Tensor kLeaf, Tensor vLeaf) {
        static Inputs random(long b, long heads, long groups, long t, long d, long seed, boolean grad) {
            Torch.manualSeed(seed);
            return new Inputs(Tensor.randn(DType.FLOAT32, Device.CPU, b, t, heads, d).mul(2.0).detach().requiresGrad(grad),
                    Tensor.randn(DType.FLOAT32, Device.CPU, b, t, groups, d).mul(2.0).detach().requiresGrad(grad),
                    Tensor.randn(DType.FLOAT32, Device.CPU, b, t, groups, d).detach().requiresGrad(grad));
        }

        Tensor q() {
            return qLeaf.transpose(1, 2).contiguous();  // as the rotary embedding hands it over
        }

        Tensor k() {
            return kLeaf.transpose(1, 2).contiguous();
        }

        Tensor v() {
            return vLeaf.transpose(1, 2);  // a strided view, as the decoder layer passes v
        }

        Inputs to(DType dtype) {
            return new Inputs(qLeaf.detach().to(dtype).requiresGrad(true), kLeaf.detach().to(dtype).requiresGrad(true),
                    vLeaf.detach().to(dtype).requiresGrad(true));
        }
    }

    @Test
    void asAccurateAsTheDecomposedAttentionForwardAndBackward() {
        // B, H, G, T, D: odd lengths, one token, lengths across the 64-row blocks, grouped and multi-query heads
        long[][] shapes = {{2, 4, 2, 7, 8}, {1, 2, 2, 1, 4}, {2, 8, 4, 130, 32}, {1, 6, 1, 65, 16}, {3, 2, 1, 64, 64}, {1, 4, 4, 200, 128}};
        for (long[] s : shapes) {
            try (Scope scope = Scope.open()) {
                compareWithReferences(s, null, 5, 17);
            }
        }
    }

    @Test
    void rightPaddedSequencesAsAccurateAsTheMaskedDecomposedAttention() {
        // B, H, G, T, D and each sequence's tokens: padding inside and across the 32-row blocks, one token, none
        long[][] shapes = {{3, 4, 2, 70, 16}, {2, 2, 1, 130, 32}, {4, 6, 3, 33, 8}};
        long[][] lengths = {{70, 33, 1}, {64, 65}, {32, 1, 17, 33}};
        for (int c = 0; c < shapes.length; c++) {
            try (Scope scope = Scope.open()) {
                long b = shapes[c][0], t = shapes[c][3];
                double scale = 1.0 / Math.sqrt(shapes[c][4]);
                Inputs fused = compareWithReferences(shapes[c], lengths[c], 6, 23);
                // the padding keys get exactly no gradient
                for (int seq = 0; seq < b; seq++) {
                    if (lengths[c][seq] == t) continue;
                    Tensor padKeys = fused.kLeaf().grad().select(0, seq).narrow(0, lengths[c][seq], t - lengths[c][seq]);
                    assertEquals(0.0, padKeys.abs().max().item(), "k grad of sequence " + seq + "'s padding");
                }
                // without lengths the padding keys do count: the lengths are not ignored
                Tensor padded = Tensor.causalAttention(fused.q(), fused.k(), fused.v(), Tensor.of(lengths[c], b), scale);
                double unpadded = Tensor.causalAttention(fused.q(), fused.k(), fused.v(), scale).sub(padded).abs().max().item();
                assertTrue(unpadded > 1e-3, "lengths change padding rows' outputs: " + unpadded);
            }
        }
    }

    /**
     * The kernel on shape {B, H, G, T, D} (lengths: each sequence's tokens, or null) against the decomposed float32
     * attention and its float64 run: output (padding rows included) and q / k / v gradients under one random
     * upstream gradient, each by {@link #assertAsAccurate}. Returns the kernel's inputs, their gradients set.
     */
    private static Inputs compareWithReferences(long[] s, long[] lengths, long upstreamSeed, long inputSeed) {
        long b = s[0], heads = s[1], groups = s[2], t = s[3], d = s[4];
        double scale = 1.0 / Math.sqrt(d);
        Torch.manualSeed(upstreamSeed);
        Tensor upstream = Tensor.randn(DType.FLOAT32, Device.CPU, b, t, heads * d);
        Inputs fused = Inputs.random(b, heads, groups, t, d, inputSeed, true);
        Inputs plain = Inputs.random(b, heads, groups, t, d, inputSeed, true);
        Inputs exact = Inputs.random(b, heads, groups, t, d, inputSeed, true).to(DType.FLOAT64);
        Tensor fusedOut = Tensor.causalAttention(fused.q(), fused.k(), fused.v(), lengths == null ? null : Tensor.of(lengths, b), scale);
        Tensor plainOut = reference(plain.q(), plain.k(), plain.v(), lengths, scale);
        Tensor exactOut = reference(exact.q(), exact.k(), exact.v(), lengths, scale);
        fusedOut.mul(upstream).sum().backward();
        plainOut.mul(upstream).sum().backward();
        exactOut.mul(upstream.to(DType.FLOAT64)).sum().backward();
        String name = Arrays.toString(s) + (lengths == null ? "" : " lengths " + Arrays.toString(lengths));
        assertAsAccurate(exactOut, plainOut, fusedOut, "output " + name);
        assertAsAccurate(exact.qLeaf().grad(), plain.qLeaf().grad(), fused.qLeaf().grad(), "q grad " + name);
        assertAsAccurate(exact.kLeaf().grad(), plain.kLeaf().grad(), fused.kLeaf().grad(), "k grad " + name);
        assertAsAccurate(exact.vLeaf().grad(), plain.vLeaf().grad(), fused.vLeaf().grad(), "v grad " + name);
        return fused;
    }

    /**
     * The fused result's error against float64 at most twice the decomposed float32 path's, or 1e-6 of the largest
     * value (the float32 paths' own errors measured up to 1.3e-6 here, so fused against decomposed would be noise).
     */
    private static void assertAsAccurate(Tensor exact, Tensor plain, Tensor fused, String what) {
        assertEquals(Arrays.toString(exact.shape()), Arrays.toString(fused.shape()), what + " shape");
        double scale = exact.abs().max().item();
        double plainError = exact.sub(plain.to(DType.FLOAT64)).abs().max().item();
        double fusedError = exact.sub(fused.to(DType.FLOAT64)).abs().max().item();
        assertTrue(fusedError <= Math.max(2 * plainError, TOLERANCE * scale),
                what + ": error " + fusedError + " against float64, decomposed float32's " + plainError + ", max |value| " + scale);
    }

    @Test
    void frozenKeysAndValuesGetNoGradientAndQueriesStillDo() {
        try (Scope scope = Scope.open()) {
            Inputs in = Inputs.random(2, 4, 2, 70, 16, 3, false);
            Tensor q = in.qLeaf().detach().requiresGrad(true);
            Tensor out = Tensor.causalAttention(q.transpose(1, 2).contiguous(), in.k(), in.v(), 0.25);
            out.sum().backward();
            assertNull(in.kLeaf().grad());
            assertNull(in.vLeaf().grad());
            Tensor qp = in.qLeaf().detach().requiresGrad(true);
            reference(qp.transpose(1, 2).contiguous(), in.k(), in.v(), 0.25).sum().backward();
            assertClose(qp.grad(), q.grad(), "q grad");
        }
    }

    @Test
    void withoutGradientTheSameBitsAndTheSameForAnyThreadCount() {
        int threads = Torch.numThreads();
        try (Scope scope = Scope.open()) {
            Inputs in = Inputs.random(2, 8, 4, 150, 32, 9, true);
            double[] recorded = Tensor.causalAttention(in.q(), in.k(), in.v(), 0.2).toDoubleArray();
            double[] unrecorded;
            try (var off = Torch.noGrad()) {
                unrecorded = Tensor.causalAttention(in.q(), in.k(), in.v(), 0.2).toDoubleArray();
            }
            assertArrayEquals(recorded, unrecorded, "saving the softmax for the backward changes no bit");
            Torch.setNumThreads(1);
            double[] single = Tensor.causalAttention(in.q(), in.k(), in.v(), 0.2).toDoubleArray();
            assertArrayEquals(recorded, single, "one thread gives the same bits as " + threads);
        } finally {
            Torch.setNumThreads(threads);
        }
    }

    @Test
    void aNanInTheInputsComesOutWhereTheDecomposedAttentionPutsIt() {
        try (Scope scope = Scope.open()) {
            Inputs in = Inputs.random(2, 4, 2, 40, 8, 21, false);
            in.kLeaf().select(0, 0).select(0, 3).select(0, 1).select(0, 0).fill(Double.NaN);  // sequence 0, key 3, kv head 1
            Tensor fused = Tensor.causalAttention(in.q(), in.k(), in.v(), 0.3);
            Tensor plain = reference(in.q(), in.k(), in.v(), 0.3);
            Tensor fusedNan = fused.ne(fused);
            double expected = plain.ne(plain).to(DType.FLOAT32).sum().item();
            assertTrue(expected > 0, "the reference has NaN rows");
            assertEquals(expected, fusedNan.to(DType.FLOAT32).sum().item(), "as many NaN outputs");
            assertEquals(0.0, fusedNan.ne(plain.ne(plain)).to(DType.FLOAT32).sum().item(), "in the same places");
        }
    }

    @Test
    void badShapesAreOneLineErrors() {
        try (Scope scope = Scope.open()) {
            Tensor q = Tensor.randn(DType.FLOAT32, Device.CPU, 1, 3, 5, 8);
            Tensor k = Tensor.randn(DType.FLOAT32, Device.CPU, 1, 2, 5, 8);
            var e = assertThrows(RuntimeException.class, () -> Tensor.causalAttention(q, k, k, 0.5));
            assertTrue(e.getMessage().contains("multiple of key/value heads") && !e.getMessage().contains("\n"), e.getMessage());
            Tensor half = q.to(DType.FLOAT64);
            e = assertThrows(RuntimeException.class, () -> Tensor.causalAttention(half, half, half, 0.5));
            assertTrue(e.getMessage().contains("CPU float32"), e.getMessage());
            for (long[] bad : new long[][] {{0}, {6}}) {
                e = assertThrows(RuntimeException.class, () -> Tensor.causalAttention(q, q, q, Tensor.of(bad, 1), 0.5));
                assertTrue(e.getMessage().contains("key length " + bad[0] + " of sequence 0 is outside 1..5") && !e.getMessage().contains("\n"),
                        e.getMessage());
            }
            e = assertThrows(RuntimeException.class, () -> Tensor.causalAttention(q, q, q, Tensor.of(new long[] {2, 2}, 2), 0.5));
            assertTrue(e.getMessage().contains("key lengths must be a CPU int64 [1] tensor"), e.getMessage());
        }
    }
}
