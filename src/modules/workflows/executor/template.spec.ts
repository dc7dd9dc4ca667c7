import { renderInput, TemplateError, type TemplateScope } from './template';

describe('step input templates', () => {
  const scope: TemplateScope = {
    parameters: { path: '/tmp/a.txt', count: 3, flags: { deep: [true, false] } },
    steps: { read: { output: { content: 'hello', structuredContent: { n: 1 } } } },
  };

  it('keeps the JSON type of a whole-string template', () => {
    expect(
      renderInput(
        {
          p: '{{ parameters.path }}',
          n: '{{parameters.count}}',
          f: '{{ parameters.flags }}',
          i: '{{ parameters.flags.deep.1 }}',
          s: '{{ steps.read.output.structuredContent }}',
        },
        scope,
      ),
    ).toEqual({
      p: '/tmp/a.txt',
      n: 3,
      f: { deep: [true, false] },
      i: false,
      s: { n: 1 },
    });
  });

  it('interpolates inside longer strings, in arrays and nested objects', () => {
    expect(
      renderInput(
        { a: ['got {{ steps.read.output.content }} x{{ parameters.count }}'], b: { c: 7 } },
        scope,
      ),
    ).toEqual({ a: ['got hello x3'], b: { c: 7 } });
  });

  it.each([
    [
      '{{ parameters.missing }}',
      'input.v: {{ parameters.missing }} does not resolve (no parameters.missing)',
    ],
    [
      '{{ steps.later.output }}',
      'input.v: {{ steps.later.output }} does not resolve (no steps.later)',
    ],
    ['{{ process.env.HOME }}', 'must start with parameters. or steps.'],
    ['x {{ parameters.path.constructor }}', 'does not resolve'],
    ['{{ parameters.__proto__ }}', 'does not resolve'],
    ['x {{ 1 + 1 }}', 'is not a path'],
    ['x {{ parameters["path"] }}', 'is not a path'],
  ])('refuses %s', (template, message) => {
    expect(() => renderInput({ v: template }, scope)).toThrow(TemplateError);
    expect(() => renderInput({ v: template }, scope)).toThrow(message);
  });

  it('leaves strings without templates and other values alone', () => {
    expect(renderInput({ a: 'plain {text}', b: null, c: 1.5 }, scope)).toEqual({
      a: 'plain {text}',
      b: null,
      c: 1.5,
    });
  });
});
