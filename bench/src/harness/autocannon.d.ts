// The slice of autocannon's API the load child uses (the package ships no types).
declare module 'autocannon' {
  interface Options {
    url: string
    method?: 'GET' | 'POST'
    body?: string
    headers?: Record<string, string>
    connections?: number
    pipelining?: number
    duration?: number
  }
  interface Result {
    requests: { average: number; total: number }
    latency: { p50: number; p99: number }
    non2xx: number
    errors: number
    timeouts: number
  }
  function autocannon(opts: Options): Promise<Result>
  export default autocannon
}
