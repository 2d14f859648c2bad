import { loadConfig } from '../config/app-config.js';
import { classifyAddress, parseIpv6 } from './ip-ranges.js';
import { FetchRefused, SafeFetcher } from './safe-fetch.js';

describe(SafeFetcher.name, () => {
  describe('address classification', () => {
    it.each([
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'unspecified'],
      ['10.0.0.1', 'private'],
      ['10.255.255.255', 'private'],
      ['100.64.0.1', 'shared'],
      ['100.127.255.254', 'shared'],
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['169.254.169.254', 'link_local'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.0.0.8', 'reserved'],
      ['192.0.2.1', 'documentation'],
      ['192.88.99.1', 'reserved'],
      ['192.168.1.1', 'private'],
      ['198.18.0.1', 'benchmarking'],
      ['198.19.255.255', 'benchmarking'],
      ['198.51.100.7', 'documentation'],
      ['203.0.113.9', 'documentation'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['240.0.0.1', 'reserved'],
      ['255.255.255.255', 'reserved'],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['[::1]', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:10.1.2.3', 'private'],
      ['::ffff:169.254.169.254', 'link_local'],
      ['::127.0.0.1', 'reserved'],
      ['::ffff:0:8.8.8.8', 'reserved'],
      ['64:ff9b::10.0.0.1', 'private'],
      ['64:ff9b::a9fe:a9fe', 'link_local'],
      ['64:ff9b:1::1', 'reserved'],
      ['100::1', 'reserved'],
      ['2001:db8::1', 'documentation'],
      ['2001::1', 'reserved'],
      ['2001:10::1', 'reserved'],
      ['2002:0a00:0001::1', 'private'],
      ['2002:7f00:1::', 'loopback'],
      ['3fff::1', 'documentation'],
      ['5f00::1', 'reserved'],
      ['fc00::1', 'unique_local'],
      ['fd12:3456:789a::1', 'unique_local'],
      ['fe80::1', 'link_local'],
      ['fe80::1%eth0', 'link_local'],
      ['febf::1', 'link_local'],
      ['fec0::1', 'reserved'],
      ['ff02::1', 'multicast'],
      ['not-an-ip', 'invalid'],
      ['1.2.3', 'invalid'],
    ])('refuses %s as %s', (address, kind) => {
      expect(classifyAddress(address)).toBe(kind);
    });

    it.each([
      '8.8.8.8',
      '1.1.1.1',
      '93.184.215.14',
      '100.63.255.255',
      '100.128.0.1',
      '172.15.255.255',
      '172.32.0.1',
      '192.169.0.1',
      '223.255.255.254',
      '2606:4700:4700::1111',
      '2a00:1450:4001:80b::200e',
      '::ffff:8.8.8.8',
      '64:ff9b::8.8.8.8',
      '2002:0808:0808::1',
    ])('allows the public address %s', (address) => {
      expect(classifyAddress(address)).toBeNull();
    });

    it('parses compressed and dotted IPv6 forms', () => {
      expect(parseIpv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
      expect(parseIpv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(parseIpv6('1::8')).toEqual([1, 0, 0, 0, 0, 0, 0, 8]);
      expect(parseIpv6('1:2:3:4:5:6:7:8:9')).toBeNull();
      expect(parseIpv6('1::2::3')).toBeNull();
    });
  });

  describe('fetchJson', () => {
    const sut = new SafeFetcher(loadConfig({ NODE_ENV: 'test' }));

    async function refusal(url: string): Promise<string> {
      try {
        await sut.fetchJson(url);
      } catch (err) {
        if (err instanceof FetchRefused) return err.reason;
        throw err;
      }
      throw new Error('the fetch was not refused');
    }

    it.each([
      ['http://example.com/client', 'scheme'],
      ['ftp://example.com/client', 'scheme'],
      ['https://user:pw@example.com/client', 'invalid_url'],
      ['not a url', 'invalid_url'],
      // Checked before any connection: these never leave the process.
      ['https://10.0.0.1/client', 'address'],
      ['https://169.254.169.254/latest/meta-data', 'address'],
      ['https://[::1]/client', 'address'],
      ['https://[::ffff:10.0.0.1]/client', 'address'],
      ['https://0x7f.1/client', 'address'],
      ['https://2130706433/client', 'address'],
    ])('refuses %s (%s)', async (url, reason) => {
      expect(await refusal(url)).toBe(reason);
    });
  });
});
