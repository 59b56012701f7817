// placeholder: implemented in a following commit
namespace tpmesh::attest {}
