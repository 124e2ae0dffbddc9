import { renderLinuxBench, runLinuxDataplaneBench } from '../tools/bench/linux-dataplane';
import { describeWithNamespaces } from './support/netns';

describeWithNamespaces("bench --dataplane linux (issue 11 item 4): the manager's convergence beside the first packet at the new place", () => {
  it('runs a batch (a cold move between data centers, a cold one across the stretched domain, a hot one), prints both figures per move and removes what it made', async () => {
    const lines: string[] = [];
    const result = await runLinuxDataplaneBench({ moves: 3, timeScale: 20, log: (m) => lines.push(m) });
    console.log(renderLinuxBench(result));
    expect(result.rows.map((r) => `${r.mode} ${r.vm}`)).toEqual(['cold app-01', 'cold web-02', 'hot web-01']);
    for (const row of result.rows) {
      expect(row.managerMs).toBeGreaterThanOrEqual(0);
      expect(row.dataplaneMs).toBeGreaterThanOrEqual(0);
    }
  }, 120_000);
});
