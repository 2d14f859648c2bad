import { normalizeResource } from './resources.service.js';

describe('normalizeResource', () => {
  it('treats a bare origin and the origin with a slash as one resource', () => {
    expect(normalizeResource('https://api.example.com')).toBe(
      normalizeResource('https://api.example.com/'),
    );
  });

  it('refuses relative URIs and fragments', () => {
    expect(normalizeResource('/api')).toBeNull();
    expect(normalizeResource('https://api.example.com/#x')).toBeNull();
    expect(normalizeResource('https://api.example.com/#')).toBeNull();
  });
});
