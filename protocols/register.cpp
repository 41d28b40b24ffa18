#include "protocols/protocols.h"

namespace oversight {

void RegisterProtocols(Registries& registries) {
  RegisterSparsePixelTasks(registries);
  RegisterDirectProtocol(registries);
}

}  // namespace oversight
