/**
 * The base of every service's domain errors: a `kind` that names the error, a message in the
 * domain's words, and nothing of HTTP. Each service derives its own base from it, so that its
 * union is recognised by `instanceof`, and says in one table (`problemMapping`) what each kind
 * answers on the wire.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: string;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
