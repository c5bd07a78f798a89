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

/// <summary>Plain reference for <see cref="GemmNT64"/>: C_ij = alpha * sum_q A_iq B_jq + beta * C_ij.</summary>
public static class GemmNT64Reference
{
    public static double[] Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b, ReadOnlySpan<double> c, int m, int n, int k, double alpha = 1, double beta = 0)
    {
        var result = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int q = 0; q < k; q++) sum += a[i * k + q] * b[j * k + q];
                result[i * n + j] = beta == 0 ? alpha * sum : alpha * sum + beta * c[i * n + j];
            }
        return result;
    }
}
