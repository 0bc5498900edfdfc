package adept.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Ops against hand-computed values and libtorch identities. */
class OpsTest {
    private Scope scope;

    @BeforeEach
    void open() {
        scope = Scope.open();
    }

    @AfterEach
    void close() {
        scope.close();
    }

    private static Tensor t(double[] values, long... shape) {
        return Tensor.of(values, shape);
    }

    @Test
    void creation() {
        assertArrayEquals(new double[] {0, 0, 0, 0, 0, 0}, Tensor.zeros(DType.FLOAT64, Device.CPU, 2, 3).toDoubleArray());
        assertArrayEquals(new double[] {1, 1}, Tensor.ones(DType.FLOAT32, Device.CPU, 2).toDoubleArray());
        assertArrayEquals(new double[] {2.5, 2.5, 2.5}, Tensor.full(2.5, DType.FLOAT32, Device.CPU, 3).toDoubleArray());
        assertArrayEquals(new long[] {2, 5, 8}, Tensor.arange(2, 10, 3, DType.INT64, Device.CPU).toLongArray());
        assertEquals(DType.BFLOAT16, Tensor.empty(DType.BFLOAT16, Device.CPU, 4).dtype());
        assertEquals(7.0, Tensor.scalar(7, DType.INT32, Device.CPU).item());
        assertArrayEquals(new long[] {}, Tensor.scalar(7, DType.INT32, Device.CPU).shape());
    }

    @Test
    void seededRandomIsReproducibleAndDistributedAsAsked() {
        Torch.manualSeed(123);
        double[] a = Tensor.randn(DType.FLOAT64, Device.CPU, 20000).toDoubleArray();
        Torch.manualSeed(123);
        double[] b = Tensor.randn(DType.FLOAT64, Device.CPU, 20000).toDoubleArray();
        assertArrayEquals(a, b);
        Tensor n = Tensor.of(a);
        assertEquals(0.0, n.mean().item(), 0.03);
        assertEquals(1.0, n.square().mean().item(), 0.05);
        Tensor u = Tensor.rand(DType.FLOAT64, Device.CPU, 20000);
        assertTrue(u.min().item() >= 0 && u.max().item() < 1);
        assertEquals(0.5, u.mean().item(), 0.02);
        Tensor r = Tensor.randint(3, 7, DType.INT64, Device.CPU, 1000);
        assertEquals(3.0, r.min().item());
        assertEquals(6.0, r.max().item());
    }

    @Test
    void elementwiseAgainstHandValues() {
        Tensor a = t(new double[] {1, -2, 3, 4}, 2, 2);
        Tensor b = t(new double[] {10, 20}, 2);  // broadcast over rows
        assertArrayEquals(new double[] {11, 18, 13, 24}, a.add(b).toDoubleArray());
        assertArrayEquals(new double[] {-19, -42, -17, -36}, a.add(b, -2).toDoubleArray());
        assertArrayEquals(new double[] {-9, -22, -7, -16}, a.sub(b).toDoubleArray());
        assertArrayEquals(new double[] {10, -40, 30, 80}, a.mul(b).toDoubleArray());
        assertArrayEquals(new double[] {0.1, -0.1, 0.3, 0.2}, a.div(b).toDoubleArray(), 1e-15);
        assertArrayEquals(new double[] {3, 0, 5, 6}, a.add(2).toDoubleArray());
        assertArrayEquals(new double[] {1, 4, 9, 16}, a.square().toDoubleArray());
        assertArrayEquals(new double[] {1, 4, 9, 16}, a.pow(2).toDoubleArray());
        assertArrayEquals(new double[] {1, 2, 3, 4}, a.abs().toDoubleArray());
        assertArrayEquals(new double[] {1, -1, 1, 1}, a.sign().toDoubleArray());
        assertArrayEquals(new double[] {1, 0, 3, 3}, a.clamp(0, 3).toDoubleArray());
        assertArrayEquals(new double[] {1, 0, 3, 4}, a.relu().toDoubleArray());
        assertArrayEquals(new double[] {0.5, 0.5}, t(new double[] {4, 4}).rsqrt().toDoubleArray());
        // silu(x) = x * sigmoid(x)
        double s = 3 / (1 + Math.exp(-3));
        assertEquals(s, t(new double[] {3}).silu().item(), 1e-12);
        assertEquals(1 / (1 + Math.exp(2)), t(new double[] {-2}).sigmoid().item(), 1e-12);
        assertEquals(Math.tanh(0.7), t(new double[] {0.7}).tanh().item(), 1e-12);
        assertArrayEquals(new double[] {10, 20, 10, 20}, a.maximum(b).toDoubleArray());
        assertArrayEquals(new double[] {1, 0, 1, 1}, a.gt(t(new double[] {0})).toDoubleArray());
        assertArrayEquals(new double[] {1, 99, 3, 4}, a.maskedFill(a.lt(t(new double[] {0})), 99).toDoubleArray());
        // a > [0.5, 1] row-wise -> [[T, F], [T, T]]
        assertArrayEquals(new double[] {1, 10, 3, 4}, Tensor.where(a.gt(b.div(20)), a, b.mul(0).add(10)).toDoubleArray());
    }

    @Test
    void transcendentalIdentities() {
        Tensor x = Tensor.rand(DType.FLOAT64, Device.CPU, 50).add(0.1);
        Assert.close(x, x.exp().log(), 1e-12);
        Assert.close(x, x.sqrt().square(), 1e-12);
        Assert.close(Tensor.ones(DType.FLOAT64, Device.CPU, 50), x.sin().square().add(x.cos().square()), 1e-12);
        Assert.close(x.reciprocal(), x.rsqrt().square(), 1e-12);
        Assert.close(x.neg(), x.mul(-1), 0);
    }

    @Test
    void matmulAgainstHandValuesAndIdentities() {
        Tensor a = t(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor b = t(new double[] {7, 8, 9, 10, 11, 12}, 3, 2);
        assertArrayEquals(new double[] {58, 64, 139, 154}, a.matmul(b).toDoubleArray());
        assertArrayEquals(new double[] {58, 64, 139, 154}, a.mm(b).toDoubleArray());
        // linear(x, W, bias) = x W^T + bias
        Tensor linearBias = t(new double[] {1, -1}, 2);
        assertArrayEquals(new double[] {59, 63, 140, 153}, a.linear(b.transpose(0, 1), linearBias).toDoubleArray());
        assertArrayEquals(new double[] {58, 64, 139, 154}, a.linear(b.transpose(0, 1), null).toDoubleArray());
        // bmm = matmul per batch; matmul = sum over the shared dim of broadcast products
        Tensor x = Tensor.randn(DType.FLOAT64, Device.CPU, 4, 3, 5);
        Tensor y = Tensor.randn(DType.FLOAT64, Device.CPU, 4, 5, 2);
        Tensor viaProducts = x.unsqueeze(3).mul(y.unsqueeze(1)).sum(new long[] {2}, false);
        Assert.close(viaProducts, x.bmm(y), 1e-12);
        Assert.close(x.select(0, 2).mm(y.select(0, 2)), x.matmul(y).select(0, 2), 1e-12);
        assertArrayEquals(new double[] {3, 4, 6, 8}, t(new double[] {1, 2}).outer(t(new double[] {3, 4})).toDoubleArray());
        // baddbmm = beta * self + alpha * bmm, self broadcast over the batch
        Tensor bias = Tensor.randn(DType.FLOAT64, Device.CPU, 1, 3, 2);
        Assert.close(bias.mul(0.5).add(x.bmm(y).mul(0.25)), bias.baddbmm(x, y, 0.5, 0.25), 1e-12);
    }

    @Test
    void reductions() {
        Tensor a = t(new double[] {1, 5, 3, 4, 2, 6}, 2, 3);
        assertEquals(21, a.sum().item());
        assertEquals(3.5, a.mean().item());
        assertArrayEquals(new double[] {9, 12}, a.sum(new long[] {1}, false).toDoubleArray());
        assertArrayEquals(new long[] {2, 1}, a.sum(new long[] {1}, true).shape());
        assertArrayEquals(new double[] {2.5, 3.5, 4.5}, a.mean(new long[] {0}, false).toDoubleArray());
        assertArrayEquals(new double[] {5, 6}, a.amax(1, false).toDoubleArray());
        assertArrayEquals(new long[] {1, 2}, a.argmax(1, false).toLongArray());
        assertEquals(6, a.max().item());
        assertEquals(1, a.min().item());
        assertEquals(Math.sqrt(1 + 25 + 9 + 16 + 4 + 36), a.norm(2).item(), 1e-12);
        assertEquals(Math.log(Math.exp(1) + Math.exp(5) + Math.exp(3)), a.logsumexp(1, false).getDouble(0), 1e-12);
    }

    @Test
    void softmaxAndLogSoftmax() {
        Tensor x = t(new double[] {1, 2, 3}, 1, 3);
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        Assert.close(new double[] {Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z}, x.softmax(1).toDoubleArray(), 1e-15);
        Assert.close(new double[] {1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)}, x.logSoftmax(-1).toDoubleArray(), 1e-15);
    }

    @Test
    void crossEntropyWithIgnoreIndex() {
        Tensor logits = t(new double[] {1, 2, 3, 0, 0, 0, 5, 1, 1}, 3, 3);
        Tensor targets = Tensor.of(new long[] {2, -100, 0});
        double loss0 = -(3 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
        double loss2 = -(5 - Math.log(Math.exp(5) + 2 * Math.exp(1)));
        assertEquals((loss0 + loss2) / 2, logits.crossEntropy(targets).item(), 1e-12, "mean over non-ignored targets");
        assertEquals(loss0 + loss2, logits.crossEntropy(targets, -100, Tensor.Reduction.SUM).item(), 1e-12);
        Assert.close(new double[] {loss0, 0, loss2}, logits.crossEntropy(targets, -100, Tensor.Reduction.NONE).toDoubleArray(), 1e-12);
        Tensor other = Tensor.of(new long[] {2, 1, 0});
        assertEquals((loss0 + loss2) / 2, logits.crossEntropy(other, 1, Tensor.Reduction.MEAN).item(), 1e-12, "custom ignore_index");
    }

    @Test
    void embeddingAndCausalMask() {
        Tensor table = t(new double[] {0, 1, 10, 11, 20, 21}, 3, 2);
        Tensor ids = Tensor.of(new long[] {2, 0, 2, 1}, 2, 2);
        Tensor e = table.embedding(ids);
        assertArrayEquals(new long[] {2, 2, 2}, e.shape());
        assertArrayEquals(new double[] {20, 21, 0, 1, 20, 21, 10, 11}, e.toDoubleArray());
        Tensor mask = Tensor.causalMask(3, Device.CPU);
        assertEquals(DType.BOOL, mask.dtype());
        assertArrayEquals(new double[] {1, 0, 0, 1, 1, 0, 1, 1, 1}, mask.toDoubleArray());
        assertArrayEquals(new double[] {0, 2, 3, 0, 0, 6, 0, 0, 0}, t(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3).triu(1).toDoubleArray());
    }

    @Test
    void attentionMatchesComposedSoftmax() {
        Tensor q = Tensor.randn(DType.FLOAT64, Device.CPU, 2, 3, 5, 4);
        Tensor k = Tensor.randn(DType.FLOAT64, Device.CPU, 2, 3, 5, 4);
        Tensor v = Tensor.randn(DType.FLOAT64, Device.CPU, 2, 3, 5, 4);
        Tensor scores = q.matmul(k.transpose(-2, -1)).mul(0.5);
        Tensor causal = Tensor.causalMask(5, Device.CPU);
        Tensor expected = scores.maskedFill(causal.eq(0), Double.NEGATIVE_INFINITY).softmax(-1).matmul(v);
        Assert.close(expected, Tensor.scaledDotProductAttention(q, k, v, null, true, 0), 1e-12);
        Assert.close(expected, Tensor.scaledDotProductAttention(q, k, v, causal, false, 0.5), 1e-12);
    }

    @Test
    void rmsNorm() {
        Tensor x = t(new double[] {3, 4}, 1, 2);
        Tensor w = t(new double[] {1, 2}, 2);
        double rms = Math.sqrt((9 + 16) / 2.0 + 1e-6);
        Assert.close(new double[] {3 / rms, 8 / rms}, x.rmsNorm(w, 1e-6).toDoubleArray(), 1e-12);
    }

    @Test
    void viewsAndLayout() {
        Tensor a = Tensor.arange(0, 6, 1, DType.FLOAT64, Device.CPU);
        Tensor m = a.reshape(2, 3);
        assertArrayEquals(new double[] {0, 3, 1, 4, 2, 5}, m.transpose(0, 1).contiguous().toDoubleArray());
        assertFalse(m.transpose(0, 1).isContiguous());
        assertArrayEquals(new long[] {1, 3}, m.transpose(0, 1).strides());
        assertArrayEquals(new long[] {3, 1, 2}, a.view(1, 2, 3).permute(2, 0, 1).shape());
        assertArrayEquals(new double[] {1, 2, 4, 5}, m.narrow(1, 1, 2).toDoubleArray());
        assertArrayEquals(new double[] {0, 2, 3, 5}, m.slice(1, 0, 3, 2).toDoubleArray());
        assertArrayEquals(new double[] {3, 4, 5}, m.select(0, 1).toDoubleArray());
        assertArrayEquals(new double[] {2, 0, 5, 3}, m.indexSelect(1, Tensor.of(new long[] {2, 0})).toDoubleArray());
        assertArrayEquals(new double[] {1, 0, 5, 5}, m.gather(1, Tensor.of(new long[] {1, 0, 2, 2}, 2, 2)).toDoubleArray());
        assertArrayEquals(new double[] {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, Tensor.cat(List.of(m, m), 0).toDoubleArray());
        assertArrayEquals(new long[] {2, 2, 3}, Tensor.stack(List.of(m, m), 0).shape());
        assertArrayEquals(new double[] {0, 1, 2, 0, 1, 2}, a.narrow(0, 0, 3).unsqueeze(0).expand(2, 3).toDoubleArray());
        assertArrayEquals(new long[] {3}, a.narrow(0, 0, 3).unsqueeze(0).squeeze(0).shape());
        assertArrayEquals(new long[] {6}, m.flatten(0, 1).shape());
        assertArrayEquals(new double[] {0, 0, 1, 1, 2, 2}, a.narrow(0, 0, 3).repeatInterleave(2, 0).toDoubleArray());
        // a view shares storage: writing through it changes the base
        m.select(0, 0).fill(-1);
        assertEquals(-1.0, a.getDouble(2));
    }

    @Test
    void dtypeMovesRoundTrip() {
        Tensor x = t(new double[] {1.0, 0.5, -2.25, 3.0}, 4);
        for (DType d : new DType[] {DType.FLOAT32, DType.BFLOAT16, DType.FLOAT16}) {
            Tensor moved = x.to(d);
            assertEquals(d, moved.dtype());
            assertArrayEquals(x.toDoubleArray(), moved.to(DType.FLOAT64).toDoubleArray(), "exactly representable in " + d);
            assertEquals(-2.25, moved.getDouble(2), "element read of " + d);
        }
        // bf16 keeps 8 mantissa bits: 1 + 2^-9 rounds to 1
        assertEquals(1.0, t(new double[] {1 + Math.pow(2, -9)}).to(DType.BFLOAT16).item());
        assertArrayEquals(new long[] {1, 0, -2, 3}, x.to(DType.INT64).toLongArray());
        assertArrayEquals(new float[] {1.0f, 0.5f, -2.25f, 3.0f}, x.toFloatArray());
    }

    @Test
    void inPlaceOps() {
        Tensor x = t(new double[] {1, 2, 3}, 3);
        Tensor y = t(new double[] {4, 5, 6}, 3);
        x.addInPlace(y, 2);  // 9 12 15
        x.mulInPlace(0.5).addInPlace(1);  // 5.5 7 8.5
        assertArrayEquals(new double[] {5.5, 7, 8.5}, x.toDoubleArray());
        x.addcmulInPlace(y, y, 0.5);  // + 8 12.5 18
        assertArrayEquals(new double[] {13.5, 19.5, 26.5}, x.toDoubleArray());
        x.addcdivInPlace(y, y, -1);
        assertArrayEquals(new double[] {12.5, 18.5, 25.5}, x.toDoubleArray());
        x.lerpInPlace(y, 0.5);
        assertArrayEquals(new double[] {8.25, 11.75, 15.75}, x.toDoubleArray());
        x.mulInPlace(y);
        assertArrayEquals(new double[] {33, 58.75, 94.5}, x.toDoubleArray());
        x.clampInPlace(40, 90).zero().addInPlace(16).sqrtInPlace();
        assertArrayEquals(new double[] {4, 4, 4}, x.toDoubleArray());
        x.copyFrom(y.to(DType.FLOAT32));
        assertArrayEquals(new double[] {4, 5, 6}, x.toDoubleArray());
    }

    @Test
    void foreachMatchesPerTensorLoop() {
        List<Tensor> params = List.of(Tensor.randn(DType.FLOAT64, Device.CPU, 3, 4), Tensor.randn(DType.FLOAT64, Device.CPU, 7));
        List<Tensor> grads = List.of(Tensor.randn(DType.FLOAT64, Device.CPU, 3, 4), Tensor.randn(DType.FLOAT64, Device.CPU, 7));
        List<Tensor> denom = List.of(Tensor.rand(DType.FLOAT64, Device.CPU, 3, 4).add(1), Tensor.rand(DType.FLOAT64, Device.CPU, 7).add(1));
        List<Tensor> loop = params.stream().map(Tensor::clone).toList();
        List<Tensor> multi = params.stream().map(Tensor::clone).toList();
        for (int i = 0; i < 2; i++) {
            Tensor p = loop.get(i);
            p.mulInPlace(0.9).addInPlace(grads.get(i), 0.1).lerpInPlace(grads.get(i), 0.3)
                    .addcmulInPlace(grads.get(i), denom.get(i), 0.01).addcdivInPlace(grads.get(i), denom.get(i), -0.02).addInPlace(0.5);
            p.mulInPlace(denom.get(i));
        }
        Foreach.mulInPlace(multi, 0.9);
        Foreach.addInPlace(multi, grads, 0.1);
        Foreach.lerpInPlace(multi, grads, 0.3);
        Foreach.addcmulInPlace(multi, grads, denom, 0.01);
        Foreach.addcdivInPlace(multi, grads, denom, -0.02);
        Foreach.addInPlace(multi, 0.5);
        Foreach.mulInPlace(multi, denom);
        for (int i = 0; i < 2; i++) Assert.close(loop.get(i), multi.get(i), 1e-12);

        List<Tensor> norms = Foreach.norm(multi);
        for (int i = 0; i < 2; i++) assertEquals(multi.get(i).norm(2).item(), norms.get(i).item(), 1e-12);
        List<Tensor> roots = Foreach.sqrt(denom);
        for (int i = 0; i < 2; i++) Assert.close(denom.get(i).sqrt(), roots.get(i), 0);
        Foreach.zero(multi);
        assertEquals(0.0, multi.get(1).abs().sum().item());
    }
}
