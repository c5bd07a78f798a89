namespace LlmPruneFast.Kernels.Gemm;

/// <summary>Plain float64 reference for <see cref="GemmNT"/>: C_ij = alpha * sum_q A_iq B_jq.</summary>
public static class GemmNTReference
{
    public static double[] Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int n, int k, double alpha = 1)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int q = 0; q < k; q++) sum += (double)a[i * k + q] * b[j * k + q];
                c[i * n + j] = alpha * sum;
            }
        return c;
    }
}
