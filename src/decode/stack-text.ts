/**
 * A stack trace sample as eunomia's ecli prints it:
 *   COMM: bash (pid=42) @ CPU 1
 *   Kernel:
 *     0 [<ffffffff8112a3b0>] do_syscall_64+0x50
 *   Userspace:
 *     0 [<000055d0c0de1139>] compute+0x0
 * and a blank line. Without symbols each frame is its address alone, in 16 hex digits.
 */
export interface StackTextSample {
  pid: number;
  cpu: number;
  comm: string;
  kernel?: { addr: bigint; symbol?: string; offset?: number }[];
  user?: { addr: bigint; symbol?: string; offset?: number }[];
}

export function stackText(s: StackTextSample, withSymbols: boolean): string {
  let text = `COMM: ${s.comm} (pid=${s.pid}) @ CPU ${s.cpu}\n`;
  const part = (title: string, none: string, frames: StackTextSample['kernel']) => {
    if (!frames) return (text += none + '\n');
    text += title + '\n';
    frames.forEach((f, i) => {
      const hex = f.addr.toString(16).padStart(16, '0');
      if (!withSymbols) text += hex + '\n';
      else text += `  ${i} [<${hex}>]${f.symbol ? ` ${f.symbol}+0x${f.offset!.toString(16)}` : ''}\n`;
    });
  };
  part('Kernel:', 'No Kernel Stack', s.kernel);
  part('Userspace:', 'No Userspace Stack', s.user);
  return text + '\n';
}
